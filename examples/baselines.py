"""Baseline condensers on Cora and CiteSeer: GCN test accuracy when trained on
the condensed graph (the acceptance check of the baseline issue).

    HCDC_DATA=../shared/data python examples/baselines.py --seeds 0 1 2 \
        --out examples/results/baselines

Per cell (dataset, method, seed): condense, train a 2-layer PyG GCN (hidden
256, dropout 0.5, weight decay 5e-4, lr 0.01, 600 epochs, Adam) on the
condensed graph's training nodes (its learned edges and weights included),
keep the weights of the epoch with the best accuracy on the original graph's
validation nodes (the GCond reference's evaluation), and test them on the
original graph's public test split. Each cell's result
is written to its own JSON file as soon as it finishes and reused on a rerun
(resumable); the table is written from all cells at the end.
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

from hcdc_graph import io
from hcdc_graph.condense import CONDENSERS
from hcdc_graph.datasets import load_dataset

RATIOS = {'Cora': 0.026, 'CiteSeer': 0.018}
REFERENCE = {'Cora': '80.1 ± 0.6', 'CiteSeer': '70.6 ± 0.9'}


class GCN(torch.nn.Module):
    def __init__(self, in_channels, hidden, out_channels, dropout=0.5):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden)
        self.conv2 = GCNConv(hidden, out_channels)
        self.dropout = dropout

    def forward(self, x, edge_index, edge_weight=None):
        x = F.dropout(x, self.dropout, self.training)
        x = self.conv1(x, edge_index, edge_weight).relu()
        x = F.dropout(x, self.dropout, self.training)
        return self.conv2(x, edge_index, edge_weight)


def gcn_test_accuracy(condensed, original, seed, epochs=600):
    torch.manual_seed(seed)
    model = GCN(original.num_features, 256, int(original.y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    mask = condensed.train_mask
    best_val, best_test = -1.0, 0.0
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(condensed.x, condensed.edge_index, condensed.edge_weight)
        F.cross_entropy(out[mask], condensed.y[mask]).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(original.x, original.edge_index).argmax(-1)
        correct = pred == original.y
        val = float(correct[original.val_mask].float().mean())
        if val > best_val:
            best_val = val
            best_test = float(correct[original.test_mask].float().mean())
    return best_test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--datasets', nargs='+', default=list(RATIOS))
    parser.add_argument('--methods', nargs='+',
                        default=['random', 'gcond-x', 'gcond'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--out', default='examples/results/baselines')
    parser.add_argument('--report-only', action='store_true',
                        help='only tabulate the cells already computed')
    args = parser.parse_args()
    os.makedirs(os.path.join(args.out, 'cells'), exist_ok=True)

    rows = []
    for name in args.datasets:
        data = load_dataset(name)
        for method in args.methods:
            cells = []
            for seed in args.seeds:
                path = os.path.join(args.out, 'cells',
                                    f'{name}-{method}-{seed}.json')
                if os.path.exists(path):
                    cells.append(io.read_json(path))
                    continue
                if args.report_only:
                    continue
                condensed = CONDENSERS[method](data, RATIOS[name],
                                               seed=seed).fit()
                cell = {
                    'dataset': name, 'method': method, 'seed': seed,
                    'ratio': RATIOS[name],
                    'num_train': int(condensed.train_mask.sum()),
                    'num_val': int(condensed.val_mask.sum()),
                    'num_edges': int(condensed.edge_index.size(1)),
                    'condense_seconds': condensed.condense_seconds,
                    'condense_peak_rss_mb': getattr(
                        condensed, 'condense_peak_rss_mb', None),
                    'gcn_test_acc': gcn_test_accuracy(condensed, data, seed),
                }
                io.write_json(path, cell, indent=1)
                print(json.dumps(cell), flush=True)
                cells.append(cell)
            if not cells:
                continue
            accs = [100 * c['gcn_test_acc'] for c in cells]
            secs = [c['condense_seconds'] for c in cells]
            spread = f'± {statistics.stdev(accs):.1f}' if len(accs) > 1 \
                else '(1 seed)'
            seeds = ' '.join(str(c['seed']) for c in cells)
            rows.append(f"| {name} | {RATIOS[name]} | {method} | "
                        f"{cells[0]['num_train']} / {cells[0]['num_val']} | "
                        f"{seeds} | "
                        f"{statistics.mean(accs):.1f} {spread} | "
                        f"{statistics.median(secs):.1f} | "
                        f"{REFERENCE[name] if method == 'gcond' else ''} |")
    table = ['| dataset | ratio | method | train / val nodes | seeds | GCN '
             'test acc (%) | condensation (s, median) | GCond paper |',
             '|---|---|---|---|---|---|---|---|'] + rows
    text = '\n'.join(table)
    print(text)
    with open(os.path.join(args.out, 'table.md'), 'w') as f:
        f.write(f'GCN test accuracy, mean ± std over the listed seeds; '
                f'per-cell JSON in cells/. Produced by `python '
                f'examples/baselines.py` (cells computed in separate runs, '
                f'tabulated {time.strftime("%Y-%m-%d")}).\n\n{text}\n')


if __name__ == '__main__':
    main()
