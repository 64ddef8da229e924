"""Pictures of rank preservation from the cells the runners write (optional
extra ``[plot]``: matplotlib, imported lazily, Agg backend)."""
import os.path as osp
from typing import List, Sequence

import numpy as np
import torch
from scipy import stats

from hcdc_graph.evaluation import floor


def _pyplot():
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ImportError("Plotting needs matplotlib: pip install "
                          "'hcdc-graph[plot]'") from None
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _label(cell: dict) -> str:
    operator = cell.get('operator', 'loops')
    return (f"{cell['method']} seed {cell['seed']} "
            f"({100 * cell['ratio']:.1f} %, {operator})")


def _check(cells: Sequence[dict]) -> None:
    if not cells:
        raise ValueError("No cells to plot")
    for cell in cells:
        if not isinstance(cell, dict) or 'table' not in cell:
            raise ValueError("Each result must be a cell JSON with a "
                             "per-config 'table' (written by hcdc-graph "
                             "benchmark or table2)")


def ranking_strips(cells: Sequence[dict], out: str) -> None:
    """One strip per cell, the configs ordered by the condensed graph's
    ranking (best on the left) and coloured by their rank on the original
    graph (the paper's Fig. 2), Spearman at the side; the data-free floor
    proxy's ordering as its own strip on top."""
    _check(cells)
    plt = _pyplot()
    table = cells[0]['table']
    original = np.array([r['original_rank'] for r in table])
    best = floor(original, torch.tensor([r['coeffs'] for r in table]))
    rows = [(f"floor: {best['name']}", stats.rankdata(best['values']))]
    rows += [(_label(c), np.array([r['condensed_rank'] for r in c['table']]))
             for c in cells]
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 0.55 * len(rows) + 1),
                             squeeze=False)
    for ax, (name, ranks) in zip(axes[:, 0], rows):
        order = np.argsort(-ranks, kind='stable')
        ax.imshow(original[order][None], aspect='auto', cmap='viridis',
                  vmin=0, vmax=len(original) - 1)
        ax.set_yticks([0])
        ax.set_yticklabels([name], fontsize=8)
        ax.set_xticks([])
        rho = stats.spearmanr(original, ranks)[0]
        ax.text(1.01, 0.5, f'ρ = {rho:.2f}', transform=ax.transAxes,
                va='center', fontsize=8)
    axes[-1, 0].set_xlabel('configs, best first by each ranking (colour: '
                           'rank on the original graph, yellow = best)',
                           fontsize=8)
    fig.suptitle(f"{cells[0]['dataset']}: filter rankings against the "
                 f"original graph's", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def accuracy_scatter(cells: Sequence[dict], out: str) -> None:
    """Per cell a panel: each config's validation accuracy on the condensed
    graph against on the original graph."""
    _check(cells)
    plt = _pyplot()
    cols = min(3, len(cells))
    rows = (len(cells) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3 * rows),
                             squeeze=False)
    for ax in axes.flat[len(cells):]:
        ax.axis('off')
    for ax, cell in zip(axes.flat, cells):
        x = [r['original_val_acc'] for r in cell['table']]
        y = [r['condensed_val_acc'] for r in cell['table']]
        ax.scatter(x, y, s=10, alpha=0.7)
        ax.set_title(_label(cell), fontsize=8)
        ax.set_xlabel('original validation accuracy', fontsize=8)
        ax.set_ylabel('condensed validation accuracy', fontsize=8)
        ax.text(0.03, 0.92, f"ρ = {cell['spearman']:.2f}",
                transform=ax.transAxes, fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def search_speedup(results: Sequence[dict], out: str) -> None:
    """Per search (the JSON of ``hcdc-graph search --trace`` or ``hcdc-graph
    nas --trace``) the test accuracy on the original graph of the best
    setting found so far against wall time, condensation counted (log
    axis): how soon a search on a condensed graph reaches what the
    whole-graph search finds."""
    if not results:
        raise ValueError("No search results to plot")
    for result in results:
        if not isinstance(result, dict) or not result.get('trace'):
            raise ValueError("Each result must be the JSON of `hcdc-graph "
                             "search --trace` or `hcdc-graph nas --trace` "
                             "(it has a 'trace')")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for result in results:
        start = result.get('condense_seconds') or 0.0
        seconds = [start + r['seconds'] for r in result['trace']]
        accuracy = [100 * r['incumbent_test_acc'] for r in result['trace']]
        name = osp.splitext(osp.basename(result['condensed']))[0] \
            if result.get('condensed') else f"{result['dataset']} (original)"
        condensing = f", {start:.0f} s condensing" if start >= 0.5 else ''
        ax.step(seconds, accuracy, where='post',
                label=f"{name}: {len(seconds)} trials{condensing}")
        if condensing:
            ax.axvline(start, color=ax.lines[-1].get_color(), lw=0.6,
                       ls=':')
    ax.set_xscale('log')
    ax.set_xlabel('wall time (s), condensation included', fontsize=9)
    ax.set_ylabel('original-graph test accuracy of the\nbest setting so '
                  'far (%)', fontsize=9)
    ax.set_title(f"{results[0]['dataset']}: search on condensed graphs "
                 f"against the whole graph", fontsize=10)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


PLOTS = {'ranking': ranking_strips, 'scatter': accuracy_scatter,
         'speedup': search_speedup}
__all__: List[str] = ['ranking_strips', 'accuracy_scatter',
                      'search_speedup', 'PLOTS']
