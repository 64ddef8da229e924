"""Where Random's ranking comes from: its S_val's real edges.

    HCDC_DATA=../shared/data python examples/random_val_structure.py \
        --dataset Cora --ratio 0.018 --seeds 0 1 2

Random keeps the induced subgraph of its sampled nodes, so some of its
validation nodes keep real (on Cora, homophilous) edges, mostly among
themselves, and the filter's Laplacian terms act on them; HCDC's synthetic
validation nodes start nearly isolated. For Random's Table 2 graph of each
seed this scores the 80 Table 2 filters (same configs, recipe and committed
ground truth as the cells) on five versions of the graph, S_train unchanged:

- ``as_is``: Random's graph (its Table 2 Corr.);
- ``val_isolated``: every edge touching S_val removed;
- ``val_isolated+0.0025_from_train``: then an edge of weight 0.0025 from
  every S_train node to every S_val node (HCDC's near-isolated start);
- ``as_is+0.0025_from_train``: Random's edges kept, those edges added;
- ``no_val_to_train``: Random's graph without the edges from S_val into
  S_train (HCDC's S_train never receives any), those among S_val and into
  it kept.

Prints Spearman, Spearman over the better half and Perf. (test accuracy on
the original graph of the filter ranked first) per seed and version, and
writes them to ``--out`` (JSON and a Markdown table).
"""
import argparse
import json
import os.path as osp

import torch
from torch_geometric.data import Data

from hcdc_graph.condense import RandomCondenser
from hcdc_graph.datasets import load_dataset
from hcdc_graph.evaluation import (Recipe, rank_correlation,
                                   sample_filter_configs,
                                   selected_performance)
# the committed Table 2 ground truth (this script's folder is on sys.path)
from hcdc_ablation import GROUND_TRUTH

HCDC_START = 0.0025


def versions(graph: Data) -> dict:
    """The five versions of ``graph`` (name -> edge_index, edge_weight)."""
    index, weight = graph.edge_index, graph.edge_weight
    in_train = graph.train_mask[index].all(dim=0)
    not_into_train = ~(graph.val_mask[index[0]] & graph.train_mask[index[1]])
    train = torch.where(graph.train_mask)[0]
    val = torch.where(graph.val_mask)[0]
    added = torch.stack([train.repeat_interleave(val.numel()),
                         val.repeat(train.numel())])
    added_weight = torch.full((added.size(1), ), HCDC_START)
    return {
        'as_is': (index, weight),
        'val_isolated': (index[:, in_train], weight[in_train]),
        'val_isolated+0.0025_from_train': (
            torch.cat([index[:, in_train], added], dim=1),
            torch.cat([weight[in_train], added_weight])),
        'as_is+0.0025_from_train': (torch.cat([index, added], dim=1),
                                    torch.cat([weight, added_weight])),
        'no_val_to_train': (index[:, not_into_train],
                            weight[not_into_train]),
    }


def write(rows: list, dataset: str, ratio: float, out: str):
    """Writes ``rows`` to ``out``.json and a table to ``out``.md."""
    with open(out + '.json', 'w') as f:
        json.dump({'dataset': dataset, 'ratio': ratio, 'rows': rows}, f,
                  indent=1)
    lines = [f'Random\'s S_val structure, {dataset} '
             f'{100 * ratio:.1f} % (80 Table 2 filters)', '',
             '| seed | version | edges | Spearman | top half | Perf. (%) |',
             '|---|---|---|---|---|---|']
    lines += [f"| {r['seed']} | `{r['version']}` | {r['edges']} | "
              f"{r['spearman']:.3f} | {r['spearman_top_half']:.3f} | "
              f"{100 * r['grid_test_acc']:.1f} |" for r in rows]
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', default='Cora')
    parser.add_argument('--ratio', type=float, default=0.018)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--ground-truth', default=GROUND_TRUTH, metavar='DIR')
    parser.add_argument('--out', default=None,
                        help='file stem (default: examples/results/table2/'
                             'val-structure-<dataset>-<ratio>)')
    args = parser.parse_args()
    # beside the ground truth, wherever the script is run from
    out = args.out or osp.join(osp.dirname(GROUND_TRUTH),
                               f'val-structure-{args.dataset}-{args.ratio}')

    data = load_dataset(args.dataset)
    configs = sample_filter_configs(80, seed=0)
    recipe = Recipe()
    rows = []
    for seed in args.seeds:
        graph = RandomCondenser(data, args.ratio, seed=seed,
                                progress=False).fit()
        for name, (index, weight) in versions(graph).items():
            version = Data(x=graph.x, y=graph.y, edge_index=index,
                           edge_weight=weight, train_mask=graph.train_mask,
                           val_mask=graph.val_mask)
            rank = rank_correlation(data, version, configs, recipe,
                                    args.ground_truth)
            perf = selected_performance(data, version, configs, recipe,
                                        args.ground_truth, hpo_steps=0,
                                        rank=rank)
            rows.append({'seed': seed, 'version': name,
                         'edges': index.size(1), 'spearman': rank.spearman,
                         'spearman_top_half': rank.spearman_top_half,
                         'grid_test_acc': perf.grid_test_acc})
            print(json.dumps(rows[-1]), flush=True)

    write(rows, data.name, args.ratio, out)


if __name__ == '__main__':
    main()
