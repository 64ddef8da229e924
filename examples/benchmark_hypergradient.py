"""Benchmark: one hypergradient of PolyGNN's validation loss w.r.t. its filter
coefficients, by solver and by graph size (CSR adjacency throughout).

    HCDC_DATA=../shared/data python examples/benchmark_hypergradient.py \
        --out examples/results/hypergradient_benchmark.md

Per setting: median wall time of --repeats hypergradients, and the peak RSS
increase over the RSS before the call (VmHWM reset through
/proc/self/clear_refs), on this machine's threads.
"""
import argparse
import math
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch_geometric.utils import to_torch_csr_tensor

from hcdc_graph.datasets import csbm, load_dataset
from hcdc_graph.hypergrad import ConjugateGradient, Neumann, hypergradient
from hcdc_graph.nn import PolyGNN
from hcdc_graph.profiling import peak_rss_mb, reset_peak_rss, rss_mb
from hcdc_graph.train import fit_node_classifier

WEIGHT_DECAY = 5e-4


def problem(data, epochs, hidden=64):
    adj = to_torch_csr_tensor(data.edge_index, size=(data.num_nodes, ) * 2)
    classes = int(data.y.max()) + 1
    model = PolyGNN(data.num_features, hidden, classes, K=2, dropout=0.5)
    fit_node_classifier(model, data, epochs=epochs, seed=0,
                        weight_decay=WEIGHT_DECAY)
    model.eval()
    names = [n for n, _ in model.named_parameters()]

    def logits(params, hparams):
        return torch.func.functional_call(model, dict(zip(names, params)),
                                          (data.x, adj),
                                          {'coeffs': hparams[0]})

    def train_loss(params, hparams):
        # Adam's weight_decay adds wd·θ to the gradient: the loss of (wd/2)‖θ‖²
        ce = F.cross_entropy(logits(params, hparams)[data.train_mask],
                             data.y[data.train_mask])
        return ce + 0.5 * WEIGHT_DECAY * sum((p ** 2).sum() for p in params)

    def val_loss(params, hparams):
        return F.cross_entropy(logits(params, hparams)[data.val_mask],
                               data.y[data.val_mask])

    params = [p.detach() for p in model.parameters()]
    return train_loss, val_loss, params, [torch.tensor([1.0, -1.0, 0.0])]


def measure(train_loss, val_loss, params, hparams, solver, repeats):
    times = []
    reset_peak_rss()
    before = rss_mb()
    for _ in range(repeats):
        start = time.perf_counter()
        g, = hypergradient(train_loss, val_loss, params, hparams, solver)
        times.append(time.perf_counter() - start)
    peak = peak_rss_mb() - before
    return statistics.median(times), peak, g


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[10_000, 30_000, 100_000])
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    lines = ['# Hypergradient benchmark\n',
             f'`python examples/benchmark_hypergradient.py` on '
             f'{platform.machine()}, {torch.get_num_threads()} threads, torch '
             f'{torch.__version__}. PolyGNN (K=2, hidden 64), CSR adjacency, '
             f'θ trained 200 epochs (csbm: 50) at the GCN filter, weight '
             f'decay {WEIGHT_DECAY}. Median of {args.repeats} runs; memory is '
             f'the peak RSS increase during the hypergradient calls.\n']

    data = load_dataset('Cora')
    setup = problem(data, epochs=200)
    lines += ['## Cora (2,708 nodes, 10,556 edges), by solver\n',
              '| solver | time (s) | peak RSS increase (MB) | '
              'cos to Neumann(400, α=0.1) |', '|---|---|---|---|']
    ref = hypergradient(*setup, solver=Neumann(steps=400, alpha=0.1))[0]
    solvers = [(f'Neumann(steps={k}, alpha=0.01)', Neumann(steps=k,
                                                          alpha=0.01))
               for k in (5, 20, 80)]
    # The Hessian at an Adam-trained ReLU net is indefinite (undamped CG
    # meets p'Hp < 0 on Cora), so CG runs damped.
    solvers.append(('ConjugateGradient(steps=20, damping=0.1)',
                    ConjugateGradient(steps=20, tol=1e-8, damping=0.1)))
    for name, solver in solvers:
        t, mem, g = measure(*setup, solver, args.repeats)
        c = float(F.cosine_similarity(g, ref, dim=0))
        lines.append(f'| {name} | {t:.3f} | {mem:.1f} | {c:.4f} |')
        print(lines[-1], flush=True)

    lines += ['\n## csbm graphs, Neumann(steps=20), by size\n',
              '| nodes | edges | time (s) | peak RSS increase (MB) |',
              '|---|---|---|---|']
    points = []
    for n in args.sizes:
        graph = csbm(num_nodes=n, num_classes=5, avg_degree=10,
                     homophily=0.8, feature_dim=128, feature_noise=1.0,
                     seed=0)
        setup = problem(graph, epochs=50)
        t, mem, _ = measure(*setup, Neumann(steps=20, alpha=0.01),
                            args.repeats)
        edges = graph.edge_index.size(1)
        points.append((edges, t))
        lines.append(f'| {n:,} | {edges:,} | {t:.3f} | {mem:.1f} |')
        print(lines[-1], flush=True)
    if len(points) > 1:
        xs = [math.log(e) for e, _ in points]
        ys = [math.log(t) for _, t in points]
        mx, my = statistics.mean(xs), statistics.mean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / \
            sum((x - mx) ** 2 for x in xs)
        lines.append(f'\nFitted exponent of time vs edges (log-log least '
                     f'squares): {slope:.2f}')
        print(lines[-1])
    if args.out:
        with open(args.out, 'w') as f:
            f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
