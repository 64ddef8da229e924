"""Scale benchmark: condensation cost and filter-search speed-up on generated
graphs of 10K, 50K and 170K nodes (ogbn-arxiv has 169K nodes, 1.17M edges).

    python examples/benchmark_scale.py --sizes 10000 --rank-sizes 10000 \
        --methods random gcond-x gcond hcdc --out examples/results/scale
    python examples/benchmark_scale.py --sizes 50000 170000 \
        --methods random gcond-x hcdc --out examples/results/scale

Graphs: ``csbm(n, num_classes=4, avg_degree=7, homophily=0.1,
feature_dim=32, feature_noise=3)`` (about 3.5 n undirected edges, 7 n
entries in ``edge_index``: 1.19M at 170K; heterophilous, so the filters
differ: on the 10K graph their validation accuracies span 0.39 to 0.80).

Per size and method, in a fresh process (so that its peak RSS is its own):
condense at ``--ratio`` (0.5 %) and record the wall time and peak RSS. HCDC
learns S_val on the GCond-X graph of the same size (GCond's structure
generator is O(n'^2) in the condensed size, 850 training nodes at 170K);
its time is its own plus GCond-X's, its peak RSS the larger of the two.

Per size: the time to evaluate the filter configs (Recipe(): PolyGNN,
hidden 64, 200 epochs, one seed) on the original graph, measured on all 80
configs for ``--rank-sizes`` (which also gives the ground truth for the
Spearman correlation) and on ``--timing-configs`` configs elsewhere, then
projected to 80 (the filter coefficients do not change the work per
epoch); and the measured time for all 80 on each condensed graph. Speed-up
without condensation = original / condensed time; with condensation =
original / (condensation + condensed); break-even = condensation time /
(per-config time saved).

Where the 80-config ground truth is too slow (about 2.5 h at 170K), the
Spearman correlation can be taken on the first ``--rank-configs`` configs:

    python examples/benchmark_scale.py --sizes 170000 --rank-sizes 170000 \
        --rank-configs 16 --methods random gcond-x hcdc \
        --out examples/results/scale

GCond's structure generator is O(n'^2) in the condensed size (train +
val: 1,700 nodes at 170K), about 2.3-2.8 h here for the full run;
``--project-sizes`` times one structure and one feature epoch and projects
the full run from them (its peak RSS is that of the short run, which
includes the costliest kind of epoch; at 50K the projection was 930 s
against 776 s measured, peak RSS 1,217 MB against 1,219 MB):

    python examples/benchmark_scale.py --sizes 170000 --methods gcond \
        --project-sizes 170000 --out examples/results/scale

Every result is a JSON cell under ``<out>/cells``, written when it finishes
and skipped on a rerun; ``<out>/scale.md`` is rewritten from all cells.
"""
import argparse
import math
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np

from hcdc_graph import io
from hcdc_graph.condense import CONDENSERS
from hcdc_graph.datasets import cache_dir, load_dataset
from hcdc_graph.evaluation import (Recipe, evaluate_configs,
                                   original_results, rank_correlation,
                                   sample_filter_configs)

GRAPH = dict(num_classes=4, avg_degree=7.0, homophily=0.1, feature_dim=32,
             feature_noise=3.0)
NUM_CONFIGS = 80


def make_graph(num_nodes: int):
    return load_dataset('csbm', num_nodes=num_nodes, **GRAPH)


def graph_path(num_nodes, method, ratio):
    folder = osp.join(cache_dir(), 'scale')
    os.makedirs(folder, exist_ok=True)
    return osp.join(folder, f'csbm{num_nodes}-{method}-{ratio}.pt')


def condense_child(num_nodes, method, ratio, out, project=False):
    """Runs in its own process: condenses and writes the cell. ``project``
    (GCond only): one structure and one feature epoch instead of the whole
    run, projected to the full run's epoch counts."""
    data = make_graph(num_nodes)
    options = {}
    if method == 'gcond':
        options['threshold'] = 0.01  # GCond's value for larger graphs
    projection = {}
    if project:
        full = CONDENSERS[method](data, ratio, seed=0, **options)
        structure = sum(map(full.is_structure_epoch, range(full.epochs)))
        options.update(epochs=2, structure_epochs=1, cycle=2)
    condenser = CONDENSERS[method](data, ratio, seed=0, progress=False,
                                   **options)
    graph = condenser.fit()
    if project:
        (t_structure, t_feature) = condenser.epoch_seconds_
        rest = graph.condense_seconds - t_structure - t_feature
        projection = {
            'projected_from': {'structure_epoch_seconds': t_structure,
                               'feature_epoch_seconds': t_feature,
                               'other_seconds': rest,
                               'structure_epochs': structure,
                               'feature_epochs': full.epochs - structure},
            'condense_seconds': rest + structure * t_structure
            + (full.epochs - structure) * t_feature}
    else:
        io.save(graph, graph_path(num_nodes, method, ratio))
    io.write_json(out, {
        'num_nodes': num_nodes, 'num_edges': int(data.edge_index.size(1)),
        'method': method, 'ratio': ratio,
        'condensed_train': int(graph.train_mask.sum()),
        'condensed_val': int(graph.val_mask.sum()),
        'condensed_edges': int(graph.edge_index.size(1)),
        'condense_seconds': graph.condense_seconds,
        'condense_peak_rss_mb': graph.condense_peak_rss_mb,
        'parts_seconds': getattr(condenser, 'seconds_', None),
        **projection}, indent=1)


def condense_cell(num_nodes, method, ratio, cells, project=False):
    path = osp.join(cells, f'condense-{num_nodes}-{method}.json')
    if not osp.exists(path):
        print(f'condensing csbm{num_nodes} with {method} ...', flush=True)
        subprocess.run([sys.executable, __file__, '--child', str(num_nodes),
                        method, str(ratio), path]
                       + ['--project'] * project, check=True)
    return io.read_json(path)


def original_cell(data, configs, recipe, timing_configs, rank, cells):
    path = osp.join(cells, f'original-{data.num_nodes}.json')
    if osp.exists(path):
        return io.read_json(path)
    timed = configs if rank else configs[:timing_configs]
    print(f'training {len(timed)} configs on csbm{data.num_nodes} ...',
          flush=True)
    start = time.perf_counter()
    if rank:  # the ground truth, cached for rank_correlation
        original_results(data, configs, recipe, progress=True)
    else:
        evaluate_configs(data, timed, recipe, progress=True)
    seconds = time.perf_counter() - start
    cell = {'num_nodes': data.num_nodes, 'configs_timed': len(timed),
            'seconds': seconds, 'per_config_seconds': seconds / len(timed)}
    io.write_json(path, cell, indent=1)
    return cell


def evaluate_cell(data, method, ratio, configs, recipe, rank, cells):
    path = osp.join(cells, f'evaluate-{data.num_nodes}-{method}.json')
    if osp.exists(path):
        return io.read_json(path)
    graph = io.load(graph_path(data.num_nodes, method, ratio))
    start = time.perf_counter()
    if rank:
        result = rank_correlation(data, graph, configs, recipe)
        extra = {'spearman': result.spearman, 'kendall': result.kendall,
                 'spearman_top_half': result.spearman_top_half,
                 'original_spread': result.original_spread}
    else:
        evaluate_configs(graph, configs, recipe)
        extra = {}
    cell = {'num_nodes': data.num_nodes, 'method': method,
            'seconds': time.perf_counter() - start, **extra}
    io.write_json(path, cell, indent=1)
    return cell


def rank_cell(data, method, ratio, configs, recipe, cells):
    """Spearman on ``configs`` (a prefix of the 80) where the 80-config
    ground truth is too slow (``--rank-configs``)."""
    path = osp.join(cells, f'rank-{data.num_nodes}-{method}.json')
    if osp.exists(path):
        return io.read_json(path)
    graph = io.load(graph_path(data.num_nodes, method, ratio))
    result = rank_correlation(data, graph, configs, recipe, progress=True)
    cell = {'num_nodes': data.num_nodes, 'method': method,
            'num_configs': len(configs), 'spearman': result.spearman,
            'kendall': result.kendall,
            'spearman_top_half': result.spearman_top_half,
            'original_spread': result.original_spread}
    io.write_json(path, cell, indent=1)
    return cell


def fitted_exponent(edges, seconds):
    """Slope of log(seconds) against log(edges), least squares."""
    if len(edges) < 2:
        return None
    return float(np.polyfit(np.log(edges), np.log(seconds), 1)[0])


def report(cells, ratio):
    found = io.read_json_folder(cells)
    sizes = sorted({c['num_nodes'] for c in found.values()})
    methods = [m for m in ('random', 'gcond-x', 'gcond', 'hcdc')
               if any(k.startswith('condense-') and k.endswith('-' + m)
                      for k in found)]
    lines = ['# Scale benchmark on generated csbm graphs', '',
             f'Ratio {ratio} (training nodes / all nodes), 80 filter '
             'configs, Recipe() (PolyGNN hidden 64, 200 epochs, 1 seed), '
             '2-core CPU. Command: see `examples/benchmark_scale.py`.', '',
             '| nodes | edge_index entries | method | condensed train+val '
             '| condense s | peak RSS MB | 80 configs on condensed s '
             '| 80 configs on original s | speed-up w/o / with condensation '
             '| break-even configs | Spearman (top half) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for n in sizes:
        orig = found.get(f'original-{n}')
        for m in methods:
            c = found.get(f'condense-{n}-{m}')
            if c is None:
                continue
            seconds, peak = c['condense_seconds'], c['condense_peak_rss_mb']
            e = found.get(f'evaluate-{n}-{m}')
            shown = f'{seconds:.0f}'
            if 'projected_from' in c:
                shown += ' (projected from 1 structure + 1 feature epoch)'
            row = [f'{n:,}', f"{c['num_edges']:,}", m,
                   f"{c['condensed_train']}+{c['condensed_val']}",
                   shown, f'{peak:.0f}']
            if e and orig:
                t_orig = orig['per_config_seconds'] * NUM_CONFIGS
                note = '' if orig['configs_timed'] == NUM_CONFIGS else \
                    f" (projected from {orig['configs_timed']})"
                saved = (t_orig - e['seconds']) / NUM_CONFIGS
                row += [f"{e['seconds']:.0f}", f'{t_orig:.0f}{note}',
                        f"{t_orig / e['seconds']:.0f}x / "
                        f"{t_orig / (seconds + e['seconds']):.1f}x",
                        f'{math.ceil(seconds / saved)}' if saved > 0
                        else 'never']
                r = found.get(f'rank-{n}-{m}', e)
                on = f" on {r['num_configs']} configs" \
                    if 'num_configs' in r else ''
                row.append(f"{r['spearman']:.2f} "
                           f"({r['spearman_top_half']:.2f}){on}"
                           if 'spearman' in r else '–')
            else:
                row += ['–'] * 5
            lines.append('| ' + ' | '.join(row) + ' |')
    lines += ['', 'Condensation time against edges, fitted exponent '
              '(log-log least squares over the sizes measured, projections '
              'left out):', '']
    for m in methods:
        measured = [found[k] for k in (f'condense-{n}-{m}' for n in sizes)
                    if k in found and 'projected_from' not in found[k]]
        pts = [(c['num_edges'], c['condense_seconds']) for c in measured]
        b = fitted_exponent(*zip(*pts)) if len(pts) > 1 else None
        lines.append(f'- {m} (own time): '
                     + ('–' if b is None else f'{b:.2f}')
                     + f' over {len(pts)} sizes')
    text = '\n'.join(lines) + '\n'
    with open(osp.join(osp.dirname(cells), 'scale.md'), 'w') as f:
        f.write(text)
    return text


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        n, method, ratio, out = sys.argv[2:6]
        condense_child(int(n), method, float(ratio), out,
                       project='--project' in sys.argv[6:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[10000, 50000, 170000])
    parser.add_argument('--methods', nargs='+',
                        default=['random', 'gcond-x', 'hcdc'],
                        choices=sorted(CONDENSERS))
    parser.add_argument('--ratio', type=float, default=0.005)
    parser.add_argument('--rank-sizes', type=int, nargs='*', default=[10000],
                        help='sizes whose 80-config ground truth is computed '
                             '(Spearman reported)')
    parser.add_argument('--timing-configs', type=int, default=3)
    parser.add_argument('--rank-configs', type=int, default=NUM_CONFIGS,
                        help='Spearman on the first K configs only, for '
                             '--rank-sizes whose 80-config ground truth is '
                             'too slow (timings still use all 80 on the '
                             'condensed graphs)')
    parser.add_argument('--project-sizes', type=int, nargs='*', default=[],
                        help='sizes where GCond runs one structure and one '
                             'feature epoch, projected to its full run (and '
                             'not evaluated: there is no graph)')
    parser.add_argument('--report-only', action='store_true')
    parser.add_argument('--out', default='examples/results/scale')
    args = parser.parse_args()
    cells = osp.join(args.out, 'cells')
    os.makedirs(cells, exist_ok=True)
    recipe = Recipe()
    configs = sample_filter_configs(NUM_CONFIGS, seed=0)
    for n in [] if args.report_only else args.sizes:
        data = make_graph(n)
        rank = n in args.rank_sizes and args.rank_configs == NUM_CONFIGS
        projected = {'gcond'} if n in args.project_sizes else set()
        for method in args.methods:
            condense_cell(n, method, args.ratio, cells,
                          project=method in projected)
        original_cell(data, configs, recipe, args.timing_configs, rank,
                      cells)
        methods = [m for m in args.methods if m not in projected]
        for method in methods:
            evaluate_cell(data, method, args.ratio, configs, recipe, rank,
                          cells)
        if n in args.rank_sizes and not rank:
            for method in methods:
                rank_cell(data, method, args.ratio,
                          configs[:args.rank_configs], recipe, cells)
        print(report(cells, args.ratio), flush=True)
    print(report(cells, args.ratio))


if __name__ == '__main__':
    main()
