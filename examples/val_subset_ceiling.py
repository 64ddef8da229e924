"""Where a condensed graph's ranking is lost: at its few validation nodes or
at its tiny training set? Two diagnostics against benchmark v2's ground
truth, for Random's nodes (HCDC keeps the same S_train and S_val nodes):

* **validation-subset ceiling**: each filter trained on the *original*
  graph (the ground truth's own runs, repeated) but scored only on the
  condensed graph's validation nodes (their real neighbourhoods included).
  No condensed graph whose S_val is those nodes can rank better than this
  without changing what it scores on.
* **transfer**: each filter trained on the condensed S_train and scored on
  *all* original validation nodes (:func:`hcdc_graph.evaluation.
  transfer_results`): the best a perfectly calibrated S_val could reach on
  that S_train.

    HCDC_DATA=../shared/data python examples/val_subset_ceiling.py \\
        --dataset chameleon --out examples/results/hcdc_v2

writes ``<out>/val_subset_ceiling-<dataset>-<operator>.json`` and prints a
table (Spearman against the ground truth per ratio and condensation seed).
"""
import argparse
import os.path as osp
from dataclasses import replace

import numpy as np
import torch
from scipy import stats

from hcdc_graph import io
from hcdc_graph.benchmark import (CONFIG_SEED, NUM_CONFIGS, OPERATORS,
                                  RATIOS, load_benchmark_dataset)
from hcdc_graph.condense import RandomCondenser
from hcdc_graph.evaluation import (Recipe, fit_configs, original_results,
                                   sample_filter_configs, transfer_results)
from hcdc_graph.ranking import rank_by_accuracy
from hcdc_graph.sparse import with_csr_adjacency
from hcdc_graph.train import evaluate_node_classifier


def subset_scores(data, configs, recipe, masks, progress=True):
    """Per config, the original-graph model (recipe seed 0) scored on the
    full validation split and on each of ``masks``: dicts of ``acc`` and
    ``loss`` arrays, the full split under ``'full'``."""
    csr = with_csr_adjacency(data)
    names = ['full', *masks]
    out = {n: {'acc': np.zeros(len(configs)), 'loss': np.zeros(len(configs))}
           for n in names}
    for i, model, _ in fit_configs(csr, configs, replace(
            recipe, seeds=recipe.seeds[:1]), progress, 'original'):
        for name in names:
            csr.val_mask = data.val_mask if name == 'full' else masks[name]
            m = evaluate_node_classifier(model, csr, configs[i])
            out[name]['acc'][i], out[name]['loss'][i] = m['val_acc'], \
                m['val_loss']
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', default='chameleon')
    parser.add_argument('--operator', choices=OPERATORS, default='noloops')
    parser.add_argument('--ratios', type=float, nargs='+')
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--no-transfer', action='store_true')
    parser.add_argument('--ground-truth',
                        default='examples/results/benchmark_v2/ground_truth')
    parser.add_argument('--out', default='build/val_subset_ceiling')
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = load_benchmark_dataset(args.dataset)
    recipe = Recipe(self_loops=OPERATORS[args.operator])
    configs = sample_filter_configs(NUM_CONFIGS, seed=CONFIG_SEED)
    truth = original_results(data, configs, recipe, args.ground_truth)
    true_ranks = rank_by_accuracy(truth['acc'], truth['loss'])
    graphs, masks = {}, {}
    for ratio in args.ratios or RATIOS[args.dataset]:
        for seed in range(args.seeds):
            graph = RandomCondenser(data, ratio, seed=seed).fit()
            mask = torch.zeros(data.num_nodes, dtype=torch.bool)
            mask[graph.original_index[graph.val_mask]] = True
            graphs[f'{ratio}-{seed}'], masks[f'{ratio}-{seed}'] = graph, mask
    scores = subset_scores(data, configs, recipe, masks)
    # the repeated runs must be the ground truth's, or nothing below holds
    drift = float(np.abs(scores['full']['acc'] - truth['acc']).max())

    def rho(result):
        return float(stats.spearmanr(
            true_ranks, rank_by_accuracy(result['acc'], result['loss']))[0])

    rows = []
    for key, graph in graphs.items():
        ratio, seed = key.split('-')
        row = {'ratio': float(ratio), 'seed': int(seed),
               'num_val': int(graph.val_mask.sum()),
               'subset_ceiling': rho(scores[key])}
        if not args.no_transfer:
            row['transfer'] = rho(transfer_results(data, graph, configs,
                                                   recipe))
        rows.append(row)
        print(row, flush=True)
    result = {'dataset': args.dataset, 'operator': args.operator,
              'method_nodes': 'random', 'ground_truth_max_acc_drift': drift,
              'rows': rows}
    io.write_json(osp.join(args.out, f'val_subset_ceiling-{args.dataset}-'
                                     f'{args.operator}.json'), result,
                  indent=1)
    print(f'ground truth reproduced to {drift:.2g} in accuracy')
    print('| ratio | seed | val nodes | subset ceiling | transfer |')
    print('|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['ratio']:.1%} | {r['seed']} | {r['num_val']} | "
              f"{r['subset_ceiling']:.2f} | {r.get('transfer', float('nan')):.2f} |")


if __name__ == '__main__':
    main()
