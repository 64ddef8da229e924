"""How well does a hypergradient taken on a random node sample estimate the
full-batch one? (HCDC's ``original_nodes`` option, for graphs such as
Reddit whose full-batch original-graph hypergradients are too slow.)

    python examples/benchmark_sampled_hypergradient.py \
        --out examples/results/scale

Graphs: ``csbm(--nodes, num_classes=4, avg_degree=d, homophily=0.1,
feature_dim=32, feature_noise=3)`` for each ``--degrees`` d (7: the scale
benchmark's arxiv-like density; 100: denser, towards Reddit's ~490).
Per graph and per filter config (``sample_filter_configs(--configs,
seed=1000)``): PolyGNN (hidden ``--hidden``, no dropout) is trained
``--train-epochs`` Adam steps on the whole graph, then the filter
hypergradient (Neumann, 20 steps, alpha 0.01) is taken on the whole graph
and on ``--samples`` samples (:func:`sampled_subgraph`, seeds 0, 1, ...)
of each ``--fractions`` of the nodes, at the same parameters. Reported:
the cosine between sampled and full hypergradient (mean, standard
deviation and minimum over configs and samples), the ratio of their norms,
and the median wall time of one hypergradient.

Writes ``<out>/sampled_hypergradient.json`` and ``.md``.
"""
import argparse
import os.path as osp
import statistics
import time

import torch
import torch.nn.functional as F

from hcdc_graph import io
from hcdc_graph.condense.base import sampled_subgraph
from hcdc_graph.datasets import csbm
from hcdc_graph.evaluation import sample_filter_configs
from hcdc_graph.hypergrad import Neumann, hypergradient
from hcdc_graph.hypergrad.calibrate import train_params
from hcdc_graph.nn import PolyGNN
from hcdc_graph.sparse import with_csr_adjacency
from hcdc_graph.train import graph_losses


def timed_hypergradient(graph, params, lam, hidden):
    """The filter hypergradient on ``graph`` at ``params``, and its wall
    time (building the CSR adjacency included)."""
    start = time.perf_counter()
    model = PolyGNN(graph.num_features, hidden, int(graph.y.max()) + 1, K=2,
                    dropout=0.0, cached=True)
    g, = hypergradient(*graph_losses(model, with_csr_adjacency(graph)),
                       params, [lam], Neumann(steps=20, alpha=0.01))
    return g, time.perf_counter() - start


def measure(args, degree):
    data = csbm(args.nodes, num_classes=4, avg_degree=degree, homophily=0.1,
                feature_dim=32, feature_noise=3, seed=0)
    rows = {f: {'cosine': [], 'norm_ratio': [], 'seconds': []}
            for f in args.fractions}
    full_seconds = []
    for lam in sample_filter_configs(args.configs, K=2, seed=1000):
        model = PolyGNN(data.num_features, args.hidden,
                        int(data.y.max()) + 1, K=2, dropout=0.0, cached=True)
        torch.manual_seed(0)
        model.reset_parameters()
        params = train_params(graph_losses(model, with_csr_adjacency(data))[0],
                              list(model.parameters()), (lam, ),
                              args.train_epochs)
        full, seconds = timed_hypergradient(data, params, lam, args.hidden)
        full_seconds.append(seconds)
        for fraction in args.fractions:
            for seed in range(args.samples):
                sample = sampled_subgraph(
                    data, round(fraction * data.num_nodes),
                    torch.Generator().manual_seed(seed))
                g, seconds = timed_hypergradient(sample, params, lam,
                                                 args.hidden)
                row = rows[fraction]
                row['cosine'].append(float(F.cosine_similarity(
                    g.flatten(), full.flatten(), dim=0)))
                row['norm_ratio'].append(float(g.norm() / full.norm()))
                row['seconds'].append(seconds)
        print(f"degree {degree}, config {lam.tolist()}: done", flush=True)
    return {'degree': degree, 'nodes': data.num_nodes,
            'edges': int(data.edge_index.size(1)),
            'full_seconds': statistics.median(full_seconds),
            'fractions': {str(f): r for f, r in rows.items()}}


def report(results, args):
    lines = [f"# Sampled vs full-batch filter hypergradients\n\n"
             f"Command: `python examples/benchmark_sampled_hypergradient.py "
             f"--nodes {args.nodes} --degrees "
             f"{' '.join(map(str, args.degrees))} --fractions "
             f"{' '.join(map(str, args.fractions))} --configs {args.configs} "
             f"--samples {args.samples}` (2-core CPU). csbm graphs, "
             f"PolyGNN hidden {args.hidden} trained {args.train_epochs} Adam "
             f"steps on the whole graph; Neumann(20, 0.01). Cosine and norm "
             f"ratio over {args.configs} configs x {args.samples} samples.\n",
             '| edge_index entries (avg degree) | sampled nodes | cosine mean '
             '± sd | min cosine | norm ratio | one hypergradient: sampled / '
             'full s |', '|---|---|---|---|---|---|']
    for r in results:
        for fraction, row in r['fractions'].items():
            cos = row['cosine']
            lines.append(
                f"| {r['edges']:,} ({r['degree']}) | "
                f"{float(fraction):.0%} of {r['nodes']:,} | "
                f"{statistics.mean(cos):.3f} ± {statistics.pstdev(cos):.3f} | "
                f"{min(cos):.3f} | "
                f"{statistics.mean(row['norm_ratio']):.2f} | "
                f"{statistics.median(row['seconds']):.2f} / "
                f"{r['full_seconds']:.2f} |")
    text = '\n'.join(lines) + '\n'
    with open(osp.join(args.out, 'sampled_hypergradient.md'), 'w') as f:
        f.write(text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--nodes', type=int, default=20000)
    parser.add_argument('--degrees', type=int, nargs='+', default=[7, 100])
    parser.add_argument('--fractions', type=float, nargs='+',
                        default=[0.5, 0.25, 0.1])
    parser.add_argument('--configs', type=int, default=3)
    parser.add_argument('--samples', type=int, default=3)
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--train-epochs', type=int, default=100)
    parser.add_argument('--out', default='examples/results/scale')
    args = parser.parse_args()
    results = [measure(args, degree) for degree in args.degrees]
    io.write_json(osp.join(args.out, 'sampled_hypergradient.json'),
                  {'args': vars(args), 'results': results}, indent=1)
    report(results, args)


if __name__ == '__main__':
    main()
