"""Rank-preservation benchmark v2: Table 2's cells under both filter
operators, on homophilous, heterophilous and generated graphs, scored
against data-free floors, a noise ceiling and what a user loses (regret).

The protocol is fixed in ``examples/results/benchmark_v2/PROTOCOL.md``.
Each cell (dataset, operator, ratio, method, seed) is one JSON file under
``<out>/cells``, written when it finishes and skipped when found, so the
benchmark runs in resumable pieces; every measure is computed from the
cells' per-config tables when the report is written, so ``--report-only``
rebuilds the report from committed cells without training anything.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from scipy import stats
from torch_geometric.data import Data

from hcdc_graph import io
from hcdc_graph.datasets import load_dataset
from hcdc_graph.evaluation import (Recipe, floor, original_results,
                                   ranking_metrics, sample_filter_configs)
from hcdc_graph.ranking import null_sd, paired_bootstrap, rank_by_accuracy
from hcdc_graph.table2 import (PAPER_CORR, cell_done, compute_seconds,
                               mean_std, run_cell)

# Ratios (synthetic training nodes / all nodes) per dataset.
RATIOS: Dict[str, Sequence[float]] = {
    'Cora': (0.009, 0.018, 0.036),
    'CiteSeer': (0.013, 0.026, 0.052),
    'chameleon': (0.01, 0.02, 0.04),
    'squirrel': (0.02, ),
    **{f'csbm-h{h}': (0.02, ) for h in ('0.1', '0.5', '0.9')},
}
METHODS = ('random', 'gcond-x', 'gcond', 'hcdc')
OPERATORS = {'noloops': False, 'loops': True}
OPERATOR_NAMES = {'noloops': "ChebNet's Laplacian I - D^-1/2 A D^-1/2 "
                             "(no self-loops; the paper's)",
                  'loops': 'Laplacian of A + I (self-loops; v1)'}
# Configs trained with a second seed for the noise ceiling (80 elsewhere).
CEILING_CONFIGS = {'CiteSeer': 16, 'squirrel': 16}
NUM_CONFIGS, CONFIG_SEED = 80, 0
# The report's measures per cell (ranking_metrics keys) and their digits.
COLUMNS = (('spearman', 2), ('beyond_floor', 2), ('regret_top1', 1),
           ('regret_top5', 1), ('recall_at_5', 2),
           ('spearman_top_quartile', 2))


def load_benchmark_dataset(name: str, root: Optional[str] = None) -> Data:
    """A benchmark dataset: a real one (split 0 for the heterophilous
    ones) or ``csbm-h<homophily>``, the generated 2,000-node graph at that
    homophily (generator seed 0, other parameters at their defaults)."""
    if name.startswith('csbm-h'):
        data = load_dataset('csbm', num_nodes=2000,
                            homophily=float(name[len('csbm-h'):]), seed=0)
        data.name = name
        return data
    if name in ('chameleon', 'squirrel'):
        return load_dataset(name, root=root, split=0)
    return load_dataset(name, root=root)


def _cell_path(out: str, dataset: str, operator: str, ratio: float,
               method: str, seed: int) -> str:
    return osp.join(out, 'cells',
                    f'{dataset}-{operator}-{ratio}-{method}-{seed}.json')


def ceiling(data: Data, operator: str, ground_truth: str,
            progress: bool = False) -> dict:
    """The noise ceiling of one dataset and operator: Spearman between the
    ground truth (training seed 0) and a replicate with training seed 1 on
    the first :data:`CEILING_CONFIGS` configs (80 by default): no condensed
    graph can agree with the truth better than the truth with itself."""
    n = CEILING_CONFIGS.get(data.name, NUM_CONFIGS)
    configs = sample_filter_configs(NUM_CONFIGS, seed=CONFIG_SEED)[:n]
    runs = [original_results(data, configs,
                             Recipe(seeds=(seed, ),
                                    self_loops=OPERATORS[operator]),
                             ground_truth, progress) for seed in (0, 1)]
    ranks = [rank_by_accuracy(r['acc'], r['loss']) for r in runs]
    return {'dataset': data.name, 'operator': operator, 'num_configs': n,
            'spearman': float(stats.spearmanr(*ranks)[0])}


def run_benchmark(datasets: Sequence[str], out: str,
                  ratios: Optional[Sequence[float]] = None,
                  methods: Sequence[str] = METHODS[:3],
                  seeds: Sequence[int] = (0, 1, 2),
                  operators: Sequence[str] = tuple(OPERATORS),
                  root: Optional[str] = None,
                  graph_dir: Optional[str] = None,
                  report_only: bool = False, progress: bool = True,
                  ground_truth: Optional[str] = None,
                  compile: bool = False) -> str:
    """Runs the missing cells of ``datasets`` (none with ``report_only``)
    and the noise ceilings, then writes ``<out>/benchmark_v2.md`` from
    every cell found under ``<out>/cells`` and returns its text. The
    ground truth is cached in ``ground_truth`` (default
    ``<out>/ground_truth``: point it at a committed one to skip training
    the original graph); condensed graphs in ``graph_dir`` (see
    :func:`~hcdc_graph.table2.condensed_graph`); ``compile`` as in
    :func:`~hcdc_graph.table2.run_cell`."""
    ground_truth = ground_truth or osp.join(out, 'ground_truth')
    os.makedirs(osp.join(out, 'cells'), exist_ok=True)
    for name in datasets if not report_only else ():
        data = load_benchmark_dataset(name, root)
        for operator in operators:
            path = osp.join(out, 'ceilings', f'{name}-{operator}.json')
            if not osp.exists(path):
                io.write_json(path, ceiling(data, operator, ground_truth,
                                            progress), indent=1)
            for ratio in ratios or RATIOS[name]:
                for method in methods:
                    for seed in seeds:
                        path = _cell_path(out, name, operator, ratio,
                                          method, seed)
                        if cell_done(path, data):
                            continue
                        cell = run_cell(
                            data, method, ratio, seed, NUM_CONFIGS,
                            CONFIG_SEED, Recipe(self_loops=OPERATORS[
                                operator]), hpo_steps=0,
                            graph_dir=graph_dir, ground_truth=ground_truth,
                            progress=progress, compile=compile)
                        cell['operator'] = operator
                        io.write_json(path, cell, indent=1)
                        if progress:
                            print(f"{name} {operator} {ratio} {method} seed "
                                  f"{seed}: Spearman {cell['spearman']:.3f}",
                                  flush=True)
    cells = read_cells(osp.join(out, 'cells'))
    text = format_report(cells, read_ceilings(osp.join(out, 'ceilings')))
    text = f"{_provenance(cells, out)}\n\n{text}"
    with open(osp.join(out, 'benchmark_v2.md'), 'w') as f:
        f.write(text)
    return text


def _provenance(cells: List[dict], out: str) -> str:
    """The report's first line: the command that makes every cell found
    (whichever runs made them), in the protocol's order."""
    def found(key, order):
        present = {c[key] for c in cells}
        return ' '.join(x for x in order if x in present)
    datasets = found('dataset', RATIOS)
    command = (f"hcdc-graph benchmark --datasets {datasets} --methods "
               f"{found('method', METHODS)} --operators "
               f"{found('operator', OPERATORS)} --out {out}")
    return (f"Produced by `{command}` ({len(cells)} cells; a rerun "
            f"computes only the cells missing from "
            f"`{osp.join(out, 'cells')}`, `--report-only` rebuilds this "
            f"file from them).")


def read_cells(cell_dir: str) -> List[dict]:
    if not osp.isdir(cell_dir):
        return []
    order = {m: i for i, m in enumerate(METHODS)}
    operators = {o: i for i, o in enumerate(OPERATORS)}  # the paper's first
    return sorted(io.read_json_folder(cell_dir).values(),
                  key=lambda c: (c['dataset'], operators[c['operator']],
                                 c['ratio'],
                                 order.get(c['method'], len(order)),
                                 c['seed']))


def read_ceilings(folder: str) -> Dict[tuple, dict]:
    if not osp.isdir(folder):
        return {}
    return {(c['dataset'], c['operator']): c
            for c in io.read_json_folder(folder).values()}


def _columns(cell: dict):
    table = cell['table']
    return (np.array([r['original_rank'] for r in table]),
            np.array([r['condensed_rank'] for r in table]),
            np.array([r['original_test_acc'] for r in table]),
            torch.tensor([r['coeffs'] for r in table]))


def format_report(cells: List[dict], ceilings: Dict[tuple, dict]) -> str:
    """Markdown, one section per dataset and operator: the floor, the
    ceiling and the null sd, then per ratio and method the mean ± std over
    seeds of Spearman, Spearman beyond the floor, top-1 / top-5 regret,
    recall@5, Spearman over the original's top quartile, condensation
    seconds, and the paired bootstrap against Random (win / loss / tie);
    the floor proxy's own values as its own row."""
    groups: Dict[tuple, Dict[float, Dict[str, List[dict]]]] = {}
    for c in cells:
        groups.setdefault((c['dataset'], c['operator']), {}) \
            .setdefault(c['ratio'], {}).setdefault(c['method'], []).append(c)
    lines = []
    truths: Dict[tuple, np.ndarray] = {}
    for (name, operator), by_ratio in groups.items():
        first = next(iter(next(iter(by_ratio.values())).values()))[0]
        original, _, test_acc, configs = _columns(first)
        truths[name, operator] = original
        best = floor(original, configs)
        ceil = ceilings.get((name, operator))
        lines += [f'### {name}, {OPERATOR_NAMES[operator]}', '',
                  f"Floor: {best['name']}, Spearman {best['spearman']:.2f} "
                  f"against the ground truth. Ceiling (ground truth, "
                  f"training seed 0 against 1"
                  + (f", {ceil['num_configs']} configs): "
                     f"{ceil['spearman']:.2f}" if ceil else "): not run")
                  + f". Null sd of one Spearman over {len(original)} "
                    f"configs: {null_sd(len(original)):.2f}.", '',
                  '| ratio | method | seeds | Spearman | beyond floor | '
                  'regret top-1 (pt) | regret top-5 (pt) | recall@5 | '
                  'Spearman, top quartile | Δ Spearman vs Random [95 % CI] '
                  '| condensation (s) | paper Corr. |', '|' + '---|' * 12]
        proxy = ranking_metrics(original, best['values'], test_acc,
                                best['values'])
        escaped = best['name'].replace('|', '\\|')  # inside a table
        lines.append(f"| – | floor ({escaped}) | – | "
                     f"{proxy['spearman']:.2f} | – | "
                     f"{proxy['regret_top1']:.1f} | "
                     f"{proxy['regret_top5']:.1f} | "
                     f"{proxy['recall_at_5']:.2f} | "
                     f"{proxy['spearman_top_quartile']:.2f} | | | |")
        for ratio, by_method in by_ratio.items():
            random_cells = {c['seed']: c for c in by_method.get('random', [])}
            for method, group in by_method.items():
                metrics = [ranking_metrics(*_columns(c)[:3], best['values'])
                           for c in group]
                columns = [mean_std([m[key] for m in metrics], digits=d)
                           for key, d in COLUMNS]
                seconds = mean_std([c['condense_seconds'] for c in group],
                                   digits=0)
                lines.append(
                    f"| {100 * ratio:.1f} % | {method} | "
                    f"{' '.join(str(c['seed']) for c in group)} | "
                    f"{' | '.join(columns)} | "
                    f"{_versus(group, random_cells, original)} | {seconds} | "
                    f"{_paper(name, operator, ratio, method)} |")
        lines.append('')
    for name in sorted({n for n, _ in truths}):
        if (name, 'loops') in truths and (name, 'noloops') in truths:
            rho = stats.spearmanr(truths[name, 'loops'],
                                  truths[name, 'noloops'])[0]
            lines.append(f"{name}: Spearman between the two operators' "
                         f"ground truths: {rho:.2f}.")
    seconds = compute_seconds(cells)
    lines += ['', "Regret: test accuracy (points) of the original's best "
              "config minus the best of the condensed graph's top 1 / top "
              "5. Beyond floor: partial Spearman controlling for the floor "
              "proxy. Δ vs Random: mean over paired seeds, paired bootstrap "
              "over configs; **win** / **loss** when the interval excludes "
              "0 and at least 2 of 3 seeds agree in sign.",
              f"Compute of these {len(cells)} cells: condensation "
              f"{seconds['condense'] / 3600:.1f} h, evaluation "
              f"{seconds['evaluate'] / 3600:.1f} h (ground truths and "
              f"ceilings not included)."]
    return '\n'.join(lines) + '\n'


def _versus(group: List[dict], random_cells: Dict[int, dict],
            original: np.ndarray) -> str:
    """The paired bootstrap of ``group`` against Random's cells of the
    same seeds."""
    pairs = [(c, random_cells[c['seed']]) for c in group
             if c['method'] != 'random' and c['seed'] in random_cells]
    if not pairs:
        return ''
    result = paired_bootstrap(original,
                              [_columns(c)[1] for c, _ in pairs],
                              [_columns(r)[1] for _, r in pairs])
    verdict = ' **win**' if result['win'] else \
        ' **loss**' if result['loss'] else ''
    return (f"{result['difference']:+.2f} [{result['low']:+.2f}, "
            f"{result['high']:+.2f}]{verdict}")


def _paper(name: str, operator: str, ratio: float, method: str) -> str:
    paper = PAPER_CORR.get(name, {}).get(method)
    if not paper or operator != 'noloops' or ratio not in RATIOS[name]:
        return ''
    return f'{paper[list(RATIOS[name]).index(ratio)]:.2f}'

