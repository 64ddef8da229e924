"""A held-out check of HCDC against Random on a generated graph that is in
no committed result (its generator seed and homophily chosen on the
command line), under benchmark v2's measures:

    python examples/hcdc_heldout.py --homophily 0.3 --graph-seed 7

``--hcdc`` takes a variant of :class:`~hcdc_graph.HCDCCondenser` in
``examples/hcdc_ablation.py``'s syntax (e.g. ``selection_configs=200``).

Ground truth and cells are cached under ``--out`` (default
``build/heldout``, not committed), so a rerun resumes; prints one line per
method with Spearman per seed, beyond the floor, top-5 regret and the
paired bootstrap of HCDC against Random.
"""
import argparse
import os.path as osp

import numpy as np

from hcdc_graph import HCDCCondenser, io
from hcdc_graph.condense import RandomCondenser
from hcdc_graph.datasets import load_dataset
from hcdc_graph.evaluation import (Recipe, floor, rank_correlation,
                                   ranking_metrics, sample_filter_configs)
from hcdc_graph.ranking import paired_bootstrap
from hcdc_ablation import parse_variant


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--homophily', type=float, default=0.3)
    parser.add_argument('--graph-seed', type=int, default=7)
    parser.add_argument('--num-nodes', type=int, default=2000)
    parser.add_argument('--ratio', type=float, default=0.02)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--self-loops', action='store_true')
    parser.add_argument('--hcdc', default='default',
                        help='HCDCCondenser options, name=value,...')
    parser.add_argument('--out', default='build/heldout')
    args = parser.parse_args()

    data = load_dataset('csbm', num_nodes=args.num_nodes,
                        homophily=args.homophily, seed=args.graph_seed)
    data.name = f'csbm-h{args.homophily}-g{args.graph_seed}'
    recipe = Recipe(self_loops=args.self_loops)
    configs = sample_filter_configs(80, seed=0)
    ranks = {}
    for method in ('random', 'hcdc'):
        for seed in args.seeds:
            variant = '' if method == 'random' or args.hcdc == 'default' \
                else f'-{args.hcdc}'
            path = osp.join(args.out, f'{data.name}-{args.self_loops}-'
                                      f'{args.ratio}-{method}{variant}-'
                                      f'{seed}.json')
            if not osp.exists(path):
                condenser = RandomCondenser if method == 'random' else \
                    HCDCCondenser
                options = {} if method == 'random' else \
                    {'self_loops': args.self_loops,
                     **parse_variant(args.hcdc)}
                graph = condenser(data, args.ratio, seed=seed,
                                  progress=False, **options).fit()
                io.write_json(path, rank_correlation(
                    data, graph, configs, recipe,
                    osp.join(args.out, 'ground_truth')).as_dict())
            ranks.setdefault(method, []).append(io.read_json(path)['table'])
    table = ranks['random'][0]
    original = np.array([r['original_rank'] for r in table])
    test_acc = np.array([r['original_test_acc'] for r in table])
    best = floor(original, configs)
    print(f"{data.name}, self_loops={args.self_loops}, ratio {args.ratio}: "
          f"floor {best['name']} {best['spearman']:.2f}")
    condensed = {m: [np.array([r['condensed_rank'] for r in t])
                     for t in tables] for m, tables in ranks.items()}
    for method, runs in condensed.items():
        metrics = [ranking_metrics(original, r, test_acc, best['values'])
                   for r in runs]
        print(f"{method}: Spearman "
              + ' / '.join(f"{m['spearman']:.2f}" for m in metrics)
              + f" (mean {np.mean([m['spearman'] for m in metrics]):.2f}), "
              f"beyond floor {np.mean([m['beyond_floor'] for m in metrics]):.2f}, "
              f"top-5 regret {np.mean([m['regret_top5'] for m in metrics]):.1f} pt")
    versus = paired_bootstrap(original, condensed['hcdc'],
                              condensed['random'])
    print(f"HCDC - Random: {versus['difference']:+.2f} "
          f"[{versus['low']:+.2f}, {versus['high']:+.2f}], "
          f"{'win' if versus['win'] else 'loss' if versus['loss'] else 'tie'}")


if __name__ == '__main__':
    main()
