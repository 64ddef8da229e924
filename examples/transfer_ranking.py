"""How far could a calibrated S_val get on each graph's S_train?

    HCDC_DATA=../shared/data python examples/transfer_ranking.py \
        --dataset Cora --ratio 0.018 --seed 0

HCDC (``theta='synthetic'``) teaches its S_val the ranking of the original
validation loss of models trained on S_train
(:func:`hcdc_graph.evaluation.transfer_results`: train on the condensed
S_train, score on the original validation nodes). For each method's Table 2
cell (its ``cells/*.json`` from ``hcdc-graph table2``, same configs and
recipe), this prints three Spearman correlations over the cell's filters:

- truth vs condensed: the cell's Corr. (S_train trained, S_val scored);
- truth vs transfer: the ranking HCDC's objective aims at, i.e. what a
  perfectly calibrated S_val would reach on this S_train;
- transfer vs condensed: how closely the graph's S_val follows that aim.

The graphs come from ``--graph-dir`` when the Table 2 run kept them there;
otherwise they are condensed anew, and since GCond is not bitwise
reproducible across machines, a new graph (and HCDC's S_train, GCond's
training part) can differ slightly from the one the cell scored, while the
first column is always the cell's.

``--dropout p`` trains the transfer and condensed rankings with dropout
``p`` instead of the cell's (HCDC trains its θ without dropout: ``0``
shows how closely S_val follows its aim under HCDC's own training); the
truth stays the cell's. The table is printed and written to ``--out``.
"""
import argparse
import dataclasses
import os.path as osp

import torch
from scipy import stats

from hcdc_graph import io
from hcdc_graph.datasets import load_dataset
from hcdc_graph.evaluation import (Recipe, evaluate_configs,
                                   original_results, transfer_results)
from hcdc_graph.ranking import rank_by_accuracy
from hcdc_graph.table2 import condensed_graph


def spearman(a, b) -> float:
    return float(stats.spearmanr(a, b)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', default='Cora')
    parser.add_argument('--ratio', type=float, default=0.018)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--methods', nargs='+',
                        default=['random', 'gcond-x', 'gcond', 'hcdc'])
    parser.add_argument('--dropout', type=float, default=None,
                        help="train the transfer and condensed rankings "
                             "with this dropout (default: the cell's)")
    parser.add_argument('--out', default='examples/results/table2',
                        help='the table2 output folder: cells, ground truth')
    parser.add_argument('--graph-dir', default=None, metavar='DIR',
                        help='Table 2 graphs (default: <user cache>/table2/'
                             'graphs)')
    args = parser.parse_args()

    data = load_dataset(args.dataset)
    rows = {}
    for method in args.methods:
        cell = osp.join(args.out, 'cells', f'{data.name}-{args.ratio}-'
                                           f'{method}-{args.seed}.json')
        if not osp.exists(cell):
            raise SystemExit(f'{cell} not found: run hcdc-graph table2 for '
                             'this cell first')
        cell = io.read_json(cell)
        configs = torch.tensor([row['coeffs'] for row in cell['table']])
        recipe = Recipe(**cell['recipe'])
        truth = original_results(data, configs, recipe,
                                 osp.join(args.out, 'ground_truth'))
        graph = condensed_graph(data, method, args.ratio, args.seed,
                                args.graph_dir, progress=True)
        if args.dropout is None:
            r_cond = [row['condensed_rank'] for row in cell['table']]
        else:
            recipe = dataclasses.replace(recipe, dropout=args.dropout)
            cond = evaluate_configs(graph, configs, recipe)
            r_cond = rank_by_accuracy(cond['acc'], cond['loss'])
        moved = transfer_results(data, graph, configs, recipe,
                                 progress=True)
        r_truth = rank_by_accuracy(truth['acc'], truth['loss'])
        r_moved = rank_by_accuracy(moved['acc'], moved['loss'])
        rows[method] = {
            'truth_vs_condensed': spearman(r_truth, r_cond),
            'truth_vs_transfer': spearman(r_truth, r_moved),
            'transfer_vs_condensed': spearman(r_moved, r_cond),
            'transfer_acc': moved['acc'].tolist(),
            'transfer_loss': moved['loss'].tolist()}
        print(method, {k: round(v, 3) for k, v in rows[method].items()
                       if not k.startswith('transfer_')
                       or k == 'transfer_vs_condensed'}, flush=True)
    name = f'transfer-{data.name}-{args.ratio}-{args.seed}' + (
        '' if args.dropout is None else f'-dropout{args.dropout}')
    io.write_json(osp.join(args.out, f'{name}.json'),
                  {'dataset': data.name, 'ratio': args.ratio,
                   'seed': args.seed, 'dropout': args.dropout,
                   'methods': rows}, indent=1)
    text = (f'Transfer ranking, {data.name} {100 * args.ratio:.1f} % seed '
            f'{args.seed} ({len(configs)} filters of the Table 2 cell'
            + ('' if args.dropout is None else
               f'; transfer and condensed trained with dropout '
               f'{args.dropout}') + ')\n\n'
            '| method | truth vs condensed (Corr.) | truth vs transfer '
            '(HCDC\'s aim) | transfer vs condensed |\n|---|---|---|---|\n'
            + ''.join(f"| {m} | {r['truth_vs_condensed']:.3f} "
                      f"| {r['truth_vs_transfer']:.3f} "
                      f"| {r['transfer_vs_condensed']:.3f} |\n"
                      for m, r in rows.items()))
    with open(osp.join(args.out, f'{name}.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
