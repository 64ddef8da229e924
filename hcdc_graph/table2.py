"""Reproduction of the paper's Table 2: rank preservation (Corr.) and
selected-filter performance (Perf.) of every condenser, per dataset and
ratio, with condensation cost.

The work is split into independent cells (dataset, ratio, method, seed).
Each cell's result is a small JSON file under ``<out>/cells`` written as
soon as the cell finishes, and a rerun skips the cells already there, so a
long reproduction can be stopped, resumed and split across runs. Condensed
graphs are kept under ``<cache>/table2/graphs`` (they are data, not
results). The original-graph ground truth, the slowest part, is kept with
the results under ``<out>/ground_truth`` (one small JSON per dataset and
recipe), so a rerun on another machine resumes without recomputing it.
HCDC reuses the GCond graph of the same cell as its fixed
:math:`S_{train}`, so the two differ only in :math:`S_{val}`; HCDC's
condensation time includes GCond's.
"""
import hashlib
import os
import os.path as osp
import statistics
import time
from dataclasses import asdict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from hcdc_graph import io
from hcdc_graph.datasets import cache_dir, load_dataset
from hcdc_graph.evaluation import (Recipe, correlation_beyond_gain,
                                   frequency_response_correlation,
                                   graph_fingerprint, original_results,
                                   rank_correlation,
                                   sample_filter_configs,
                                   selected_performance)

PAPER_RATIOS: Dict[str, Sequence[float]] = {
    'Cora': (0.009, 0.018, 0.036),
    'CiteSeer': (0.013, 0.026, 0.052),
}
METHODS = ('random', 'gcond-x', 'gcond', 'hcdc')
# The paper's Table 2 Corr. (Spearman), per method, at PAPER_RATIOS.
PAPER_CORR = {
    'Cora': {'random': (.29, .40, .51), 'gcond-x': (.16, .21, .23),
             'gcond': (.61, .76, .81), 'hcdc': (.80, .85, .90)},
    'CiteSeer': {'random': (.38, .56, .71), 'gcond': (.68, .79, .83),
                 'hcdc': (.79, .83, .89)},
}
PAPER_WHOLE_GRAPH_PERF = {'Cora': 83.8, 'CiteSeer': 73.7}


def condensed_graph(data: Data, method: str, ratio: float, seed: int,
                    graph_dir: Optional[str] = None,
                    progress: bool = False, self_loops: bool = True,
                    options: Optional[dict] = None) -> Data:
    """The condensed graph of one cell, loaded from ``graph_dir`` (default
    ``<user cache>/table2/graphs``) when it was made before: the file name
    holds a hash of the condenser's configuration (every option, defaults
    included) and of the graph's
    :func:`~hcdc_graph.evaluation.graph_fingerprint`.
    HCDC calibrates for the filter operator ``self_loops`` (the other
    methods do not depend on it); ``options`` go to the condenser."""
    from hcdc_graph.condense import CONDENSERS
    graph_dir = graph_dir or osp.join(cache_dir(), 'table2', 'graphs')
    if method not in CONDENSERS:
        raise ValueError(f"Unknown method '{method}'; choose one of "
                         f"{', '.join(CONDENSERS)}")
    options = dict(options or {})
    if method == 'hcdc':
        options['self_loops'] = self_loops
    condenser = CONDENSERS[method](data, ratio, seed=seed, progress=progress,
                                   **options)
    # The file name holds what the graph depends on: the data, the method
    # and every option of the condenser (its defaults included).
    key = hashlib.sha256(condenser._configuration().encode()).hexdigest()
    path = osp.join(graph_dir, f'{data.name}-{method}-{ratio}-{seed}-'
                               f'{key[:12]}.pt')
    if osp.exists(path):
        return io.load(path)
    resumable = method in ('gcond-x', 'gcond', 'hcdc')
    if resumable:  # a run stopped midway continues where it was
        os.makedirs(graph_dir, exist_ok=True)
        condenser.checkpoint = f'{path}.checkpoint'
    graph = condenser.fit(resume=resumable)
    os.makedirs(graph_dir, exist_ok=True)
    io.save(graph, path)
    return graph


def run_cell(data: Data, method: str, ratio: float, seed: int,
             num_configs: int = 80, config_seed: int = 0,
             recipe: Optional[Recipe] = None, hpo_steps: int = 20,
             graph_dir: Optional[str] = None,
             ground_truth: Optional[str] = None,
             progress: bool = False, compile: bool = False) -> dict:
    """Condenses (or loads) one cell's graph and evaluates it under
    ``recipe`` (its operator included): Spearman, Kendall, top-half
    Spearman, Perf. (grid and HPO) and the oracle, and the per-config
    table. ``ground_truth`` is the folder of the cached original-graph
    results (see :func:`~hcdc_graph.evaluation.original_results`);
    ``compile`` compiles GCond's generator (see
    :class:`~hcdc_graph.condense.GCondCondenser`)."""
    recipe = recipe or Recipe()
    graph = condensed_graph(data, method, ratio, seed, graph_dir, progress,
                            recipe.self_loops,
                            {'compile': True} if compile and
                            method == 'gcond' else None)
    configs = sample_filter_configs(num_configs, seed=config_seed)
    # before the clock starts: the ground truth is shared by every cell
    original_results(data, configs, recipe, ground_truth, progress)
    start = time.perf_counter()
    rank = rank_correlation(data, graph, configs, recipe, ground_truth,
                            progress)
    perf = selected_performance(data, graph, configs, recipe, ground_truth,
                                hpo_steps=hpo_steps, rank=rank)
    rank_dict = rank.as_dict()
    return {
        'dataset': data.name, 'graph': graph_fingerprint(data),
        'method': method, 'ratio': ratio,
        'seed': seed, 'num_configs': num_configs,
        'config_seed': config_seed, 'recipe': asdict(recipe),
        'num_train': int(graph.train_mask.sum()),
        'num_val': int(graph.val_mask.sum()),
        'num_edges': int(graph.edge_index.size(1)),
        'condense_seconds': float(graph.condense_seconds),
        'condense_peak_rss_mb': float(graph.condense_peak_rss_mb),
        'evaluate_seconds': time.perf_counter() - start,
        **{k: v for k, v in rank_dict.items() if k != 'table'},
        **perf.as_dict(),
        'table': rank_dict['table'],
    }


def cell_done(path: str, data: Data) -> bool:
    """Whether the cell at ``path`` exists; one computed on another graph
    than ``data`` (a generated graph with other parameters, another split)
    is an error rather than silently reused."""
    if not osp.exists(path):
        return False
    made_on = io.read_json(path).get('graph')
    if made_on is not None and made_on != graph_fingerprint(data):
        raise ValueError(f"'{path}' was computed on another graph than this "
                         f"{data.name} (fingerprint {made_on}, now "
                         f"{graph_fingerprint(data)}); use another --out")
    return True


def run_table2(datasets: Sequence[str] = ('Cora', 'CiteSeer'),
               ratios: Optional[Sequence[float]] = None,
               methods: Sequence[str] = METHODS,
               seeds: Sequence[int] = (0, 1, 2), out: str = 'table2',
               num_configs: int = 80, config_seed: int = 0,
               recipe: Optional[Recipe] = None, hpo_steps: int = 20,
               root: Optional[str] = None, report_only: bool = False,
               progress: bool = True,
               dataset_options: Optional[dict] = None,
               ground_truth: Optional[str] = None,
               graph_dir: Optional[str] = None,
               report: Optional[str] = None,
               command: Optional[str] = None,
               compile: bool = False) -> str:
    """Runs the missing cells (none with ``report_only``), writes
    ``report`` (default ``<out>/table2.md``) from every cell in
    ``<out>/cells`` (those of earlier runs for other datasets, ratios or
    methods included, so a run for some cells never drops the others'
    rows) and returns its text.
    ``ratios`` default to the paper's ratios of each dataset;
    ``dataset_options`` go to :func:`~hcdc_graph.datasets.load_dataset`
    (generated graphs). The original-graph ground truth is cached in
    ``ground_truth`` (default ``<out>/ground_truth``), the condensed graphs
    in ``graph_dir`` (see :func:`condensed_graph`). ``command``, the shell
    command that produces the table, heads the report when given;
    ``compile`` as in :func:`run_cell`."""
    cell_dir = osp.join(out, 'cells')
    ground_truth = ground_truth or osp.join(out, 'ground_truth')
    os.makedirs(cell_dir, exist_ok=True)
    for name in datasets if not report_only else ():
        data = load_dataset(name, root=root, **(dataset_options or {}))
        for ratio in ratios or PAPER_RATIOS.get(name, ()):
            for method in methods:
                for seed in seeds:
                    path = osp.join(cell_dir, f'{name}-{ratio}-{method}-'
                                              f'{seed}.json')
                    if cell_done(path, data):
                        continue
                    cell = run_cell(data, method, ratio, seed, num_configs,
                                    config_seed, recipe, hpo_steps,
                                    graph_dir, ground_truth,
                                    progress=progress, compile=compile)
                    io.write_json(path, cell, indent=1)
                    if progress:
                        print(f"{name} {ratio} {method} seed {seed}: "
                              f"Spearman {cell['spearman']:.3f}, Perf. "
                              f"{100 * cell['grid_test_acc']:.1f} %, "
                              f"{cell['condense_seconds']:.0f} s", flush=True)
    text = format_table(read_cells(cell_dir))
    if command:
        text = (f"Produced by `{command}` (a rerun computes only the cells "
                f"missing from `{cell_dir}`).\n\n{text}")
    with open(report or osp.join(out, 'table2.md'), 'w') as f:
        f.write(text)
    return text


def read_cells(cell_dir: str) -> List[dict]:
    """Every cell under ``cell_dir``, ordered by dataset, ratio, method (in
    :data:`METHODS` order) and seed."""
    order = {m: i for i, m in enumerate(METHODS)}
    return sorted(io.read_json_folder(cell_dir).values(),
                  key=lambda c: (c['dataset'], c['ratio'],
                                 order.get(c['method'], len(order)),
                                 c['method'], c['seed']))


def mean_std(values: List[Optional[float]], scale: float = 1.0,
             digits: int = 2) -> str:
    """``mean ± std`` of the values that are not None (one value: itself;
    none: a dash)."""
    values = [scale * v for v in values if v is not None]
    if not values:
        return '–'
    if len(values) == 1:
        return f'{values[0]:.{digits}f}'
    return (f'{statistics.mean(values):.{digits}f} ± '
            f'{statistics.stdev(values):.{digits}f}')


def compute_seconds(cells: List[dict]) -> Dict[str, float]:
    """Condensation and evaluation seconds summed over ``cells``. An HCDC
    cell counts only its own condensation when the GCond cell whose graph
    it reuses is among ``cells`` (else that GCond run is counted with it)."""
    def key(c: dict) -> tuple:
        return c['dataset'], c['ratio'], c['seed']

    gcond = {key(c): c['condense_seconds'] for c in cells
             if c['method'] == 'gcond'}
    condense = sum(c['condense_seconds'] for c in cells)
    condense -= sum(gcond.get(key(c), 0.0) for c in cells
                    if c['method'] == 'hcdc')
    return {'condense': condense,
            'evaluate': sum(c['evaluate_seconds'] for c in cells)}


def beyond_h0(cell: dict) -> Optional[float]:
    """A cell's Corr. with the data-free |h(0)| ranking partialled out
    (:func:`~hcdc_graph.evaluation.correlation_beyond_gain`); None where
    undefined."""
    table = cell['table']
    rho = correlation_beyond_gain(
        np.array([row['original_rank'] for row in table]),
        np.array([row['condensed_rank'] for row in table]),
        torch.tensor([row['coeffs'] for row in table]))
    return None if rho != rho else rho


def format_table(cells: List[dict]) -> str:
    """Markdown: one row per (dataset, ratio, method), mean ± std over the
    seeds found; then, per dataset, the whole-graph oracle and the
    data-free |h(0)| reference (both from the ground truth, which every cell
    of a dataset shares); last, the compute the cells took
    (:func:`compute_seconds`)."""
    groups: Dict[tuple, List[dict]] = {}
    for c in cells:
        groups.setdefault((c['dataset'], c['ratio'], c['method']), []) \
            .append(c)
    lines = ['| dataset | ratio | method | seeds | Corr. (Spearman) | '
             'Corr. beyond \\|h(0)\\| | Kendall τ | Spearman, top half | '
             'Perf. grid (%) | Perf. HPO (%) | condensation (s) | '
             'peak RSS (MB) | paper Corr. |', '|' + '---|' * 13]
    first: Dict[str, dict] = {}  # first cell per dataset
    for (name, ratio, method), group in groups.items():
        paper = PAPER_CORR.get(name, {}).get(method)
        ratios = PAPER_RATIOS.get(name, ())
        paper_corr = f'{paper[ratios.index(ratio)]:.2f}' \
            if paper and ratio in ratios else ''
        lines.append(
            f"| {name} | {100 * ratio:.1f} % | {method} | "
            f"{' '.join(str(c['seed']) for c in group)} | "
            f"{mean_std([c['spearman'] for c in group])} | "
            f"{mean_std([beyond_h0(c) for c in group])} | "
            f"{mean_std([c['kendall'] for c in group])} | "
            f"{mean_std([c['spearman_top_half'] for c in group])} | "
            f"{mean_std([c['grid_test_acc'] for c in group], 100, 1)} | "
            f"{mean_std([c['hpo_test_acc'] for c in group], 100, 1)} | "
            f"{mean_std([c['condense_seconds'] for c in group], 1, 0)} | "
            f"{mean_std([c['condense_peak_rss_mb'] for c in group], 1, 0)}"
            f" | {paper_corr} |")
        first.setdefault(name, group[0])
    lines.append('')
    for name, cell in first.items():
        paper = PAPER_WHOLE_GRAPH_PERF.get(name)
        lines.append(f"Whole-graph Perf. on {name} (best of the configs by "
                     f"original validation accuracy, its test accuracy): "
                     f"{100 * cell['oracle_test_acc']:.1f} %"
                     + (f" (paper: {paper})" if paper else '') + '.')
        table = cell['table']
        free = frequency_response_correlation(
            np.array([row['original_rank'] for row in table]),
            torch.tensor([row['coeffs'] for row in table]), mu=0.0)
        lines.append(f"Data-free reference on {name}: ranking the filters by "
                     f"|h(0)| = |λ_0| alone gives Corr. "
                     f"{free['spearman']:.2f} (top half "
                     f"{free['spearman_top_half']:.2f}).")
    lines.append("Corr. beyond \\|h(0)\\|: Corr. with the data-free ranking "
                 "partialled out (partial Spearman; 0: the condensed graph "
                 "adds nothing to it).")
    seconds = compute_seconds(cells)
    lines.append(f"Compute of these {len(cells)} cells: condensation "
                 f"{seconds['condense'] / 3600:.1f} h, evaluation "
                 f"{seconds['evaluate'] / 3600:.1f} h (HCDC counted without "
                 f"the GCond graph it reuses; the original-graph ground "
                 f"truth, once per dataset, not included).")
    return '\n'.join(lines) + '\n'
