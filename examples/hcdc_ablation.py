"""HCDC variants on benchmark v2's cells: the same measures as the
benchmark (Spearman, beyond the floor, regret, the bootstrap against
Random's cell of the same seed), for HCDCCondenser options the benchmark's
default does not use.

    HCDC_DATA=../shared/data python examples/hcdc_ablation.py \
        --dataset Cora --ratio 0.018 --seeds 0 1 2 --operator noloops \
        --variants epochs=0 default

A variant is comma-separated HCDCCondenser options (``name=value``, values
read as Python literals), or ``default``. Each (variant, seed) is one JSON
file under ``--out``/cells, written when it finishes and reused on a rerun;
``--out``/ablation.md is rebuilt from all cells found. Choose variants on
the development cells (Cora 1.8 %, chameleon 2 %), never on the rest of
the benchmark.
"""
import argparse
import ast
import os
import os.path as osp
import time

import numpy as np

from hcdc_graph import HCDCCondenser, io
from hcdc_graph.benchmark import (OPERATORS, _cell_path, _columns,
                                  load_benchmark_dataset)
from hcdc_graph.evaluation import (Recipe, floor, rank_correlation,
                                   ranking_metrics, sample_filter_configs)
from hcdc_graph.ranking import paired_bootstrap

BENCHMARK = osp.join(osp.dirname(__file__), 'results', 'benchmark_v2')


def parse_variant(text: str) -> dict:
    options = {}
    for item in filter(None, text.split(',')):
        if item == 'default':
            continue
        name, _, value = item.partition('=')
        options[name] = ast.literal_eval(value)
    return options


def run(args, data, variant: str, seed: int) -> dict:
    recipe = Recipe(self_loops=OPERATORS[args.operator])
    hcdc = HCDCCondenser(data, args.ratio, seed=seed,
                         self_loops=recipe.self_loops,
                         **parse_variant(variant))
    graph = hcdc.fit()
    start = time.perf_counter()
    rank = rank_correlation(data, graph, sample_filter_configs(80, seed=0),
                            recipe, osp.join(BENCHMARK, 'ground_truth'),
                            progress=True)
    return {'dataset': data.name, 'operator': args.operator,
            'ratio': args.ratio, 'seed': seed, 'variant': variant,
            'condense_seconds': graph.condense_seconds,
            'condense_parts': hcdc.seconds_,
            'peak_rss_mb': graph.condense_peak_rss_mb,
            'evaluate_seconds': time.perf_counter() - start,
            'alignment_loss': hcdc.loss_history_,
            'scale_range': [float(hcdc.scales_.min()),
                            float(hcdc.scales_.max())],
            'num_nodes': graph.num_nodes, 'table': rank.table}


def report(cells, args) -> str:
    rows = []
    variants = sorted({c['variant'] for c in cells})
    for variant in variants:
        group = sorted((c for c in cells if c['variant'] == variant),
                       key=lambda c: c['seed'])
        randoms = [io.read_json(_cell_path(BENCHMARK, c['dataset'],
                                           c['operator'], c['ratio'],
                                           'random', c['seed']))
                   for c in group]
        original, _, test_acc, configs = _columns(group[0])
        best = floor(original, configs)
        metrics = [ranking_metrics(*_columns(c)[:3], best['values'])
                   for c in group]
        versus = paired_bootstrap(original, [_columns(c)[1] for c in group],
                                  [_columns(r)[1] for r in randoms])
        verdict = 'win' if versus['win'] else \
            'loss' if versus['loss'] else 'tie'

        def column(key, digits=2):
            values = [m[key] for m in metrics]
            return ' / '.join(f'{v:.{digits}f}' for v in values) + \
                f' (mean {np.mean(values):.{digits}f})'
        rows.append(
            f"| `{variant}` | {' '.join(str(c['seed']) for c in group)} | "
            f"{column('spearman')} | {column('beyond_floor')} | "
            f"{column('regret_top1', 1)} | {column('regret_top5', 1)} | "
            f"{versus['difference']:+.2f} [{versus['low']:+.2f}, "
            f"{versus['high']:+.2f}] {verdict} | "
            f"{np.mean([c['condense_seconds'] for c in group]):.0f} |")
    first = cells[0]
    return (f"{first['dataset']}, {first['operator']}, "
            f"{100 * first['ratio']:.1f} %: floor {best['name']} "
            f"{best['spearman']:.2f}\n\n"
            '| variant | seeds | Spearman | beyond floor | regret top-1 (pt) '
            '| regret top-5 (pt) | Δ Spearman vs Random [95 % CI] | '
            'condensation (s) |\n' + '|---' * 8 + '|\n'
            + '\n'.join(rows) + '\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', default='Cora')
    parser.add_argument('--ratio', type=float, default=0.018)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--operator', choices=OPERATORS, default='noloops')
    parser.add_argument('--variants', nargs='+', default=['default'])
    parser.add_argument('--out', default=osp.join(
        osp.dirname(__file__), 'results', 'hcdc_v2'))
    args = parser.parse_args()

    data = load_benchmark_dataset(args.dataset)
    cell_dir = osp.join(args.out, 'cells')
    os.makedirs(cell_dir, exist_ok=True)
    for variant in args.variants:
        for seed in args.seeds:
            path = osp.join(cell_dir, f'{data.name}-{args.operator}-'
                                      f'{args.ratio}-{variant}-{seed}.json')
            if not osp.exists(path):
                io.write_json(path, run(args, data, variant, seed), indent=1)
    cells = [c for c in io.read_json_folder(cell_dir).values()
             if (c['dataset'], c['operator'], c['ratio']) ==
             (data.name, args.operator, args.ratio)]
    text = report(cells, args)
    with open(osp.join(args.out, f'{data.name}-{args.operator}-'
                                 f'{args.ratio}.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
