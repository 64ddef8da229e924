"""Table 1, CIFAR-10 row: how well a condensed CIFAR-10 ranks NAS-Bench-201
cells, for Random, DC and HCDC on the same architectures.

    python examples/table1.py --archs 30 --out examples/results/table1

Per method (seed ``--seed``, ``--ipc`` images per class): condense CIFAR-10
once and record the wall time and peak RSS (HCDC learns S_val on DC's
S_train, so its cost is its own plus DC's); then train every architecture of
``sample_architectures(--archs, --arch-seed)`` (``TinyNetwork``, C=16, N=1,
``--epochs`` full-batch Adam steps on S_train), score it on S_val and
compare the ranking with the NAS-Bench-201 CIFAR-10 test accuracy
(Spearman, Kendall, Perf. = ground truth of the top-ranked cell). Each
condensation seed is a run of its own (``--seed``); the table gives the mean
and standard deviation over the seeds found.

About 20-50 s per architecture on 2 CPU cores. ``sample_architectures(n)``
for a smaller n is a subset of the sample for a larger n, so a run can be
extended (``--archs 100`` reuses the architectures already trained).
Condensed sets are kept under ``--work`` (default: the cache directory);
per-architecture results and per-method summaries are JSON files under
``<out>/cells/seed<k>``, skipped on a rerun; ``<out>/table1.md`` is
rewritten from them.
"""
import argparse
import glob
import os
import os.path as osp
import statistics

from scipy import stats

from hcdc_graph import io
from hcdc_graph.datasets import cache_dir
from hcdc_graph.image.condense import (CondensedImages, DCCondenser,
                                       RandomImageCondenser)
from hcdc_graph.image.datasets import load_cifar10
from hcdc_graph.image.evaluation import (correlation_beyond_parameter_count,
                                         parameter_count_correlation,
                                         parameter_counts, rank_correlation,
                                         ranks_of)
from hcdc_graph.image.hcdc import HCDCImageCondenser
from hcdc_graph.image.nasbench201 import (load_ground_truth,
                                          sample_architectures)

METHODS = ('random', 'dc', 'hcdc')
# The paper's Table 1, CIFAR-10 Spearman (Random, DC, HCDC).
PAPER = {'random': -0.12, 'dc': -0.21, 'hcdc': 0.74}


def condensed_set(method, args, data, work):
    """The condensed set of ``method``, made once and kept in ``work``."""
    path = osp.join(work, f'{method}-ipc{args.ipc}-seed{args.seed}.pt')
    if osp.exists(path):
        return CondensedImages.load(path)
    if method == 'random':
        condenser = RandomImageCondenser(data, args.ipc, seed=args.seed)
    elif method == 'dc':
        condenser = DCCondenser(data, args.ipc, seed=args.seed)
    else:
        dc = condensed_set('dc', args, data, work)
        condenser = HCDCImageCondenser(data, args.ipc, seed=args.seed,
                                       train_images=dc)
    out = condenser.fit()
    if method == 'hcdc':
        out.meta['train_condense_seconds'] = \
            dc.meta['condense_seconds']
        out.meta['train_condense_peak_rss_mb'] = \
            dc.meta['condense_peak_rss_mb']
    os.makedirs(work, exist_ok=True)
    out.save(path)
    return out


def run(args):
    data = load_cifar10()
    truth = load_ground_truth()
    archs = sample_architectures(args.archs, args.arch_seed)
    work = args.work or osp.join(cache_dir(), 'table1')
    # one folder per condensation seed: a cell trained on another seed's
    # condensed set must never be reused
    cells = osp.join(args.out, 'cells', f'seed{args.seed}')
    for method in args.methods:
        condensed = condensed_set(method, args, data, work)
        result = rank_correlation(
            condensed, archs, truth, epochs=args.epochs,
            out_dir=osp.join(cells, method), progress=True)
        summary = {k: v for k, v in result.as_dict().items() if k != 'table'}
        summary.update(
            method=method, ipc=args.ipc, archs=len(archs),
            arch_seed=args.arch_seed, epochs=args.epochs,
            train_seconds=sum(r['seconds'] for r in result.table),
            condense=condensed.meta)
        io.write_json(osp.join(cells, f'{method}.json'), summary, indent=1)
        print(f"{method}: Spearman {result.spearman:.3f}, Kendall "
              f"{result.kendall:.3f}, Perf. {result.perf:.2f} %", flush=True)


def report(out):
    seeds = sorted(int(osp.basename(d)[4:]) for d in
                   glob.glob(osp.join(out, 'cells', 'seed*')))
    by_method = {m: [io.read_json(p) for p in (
        osp.join(out, 'cells', f'seed{k}', f'{m}.json') for k in seeds)
        if osp.exists(p)] for m in METHODS}
    by_method = {m: rows for m, rows in by_method.items() if rows}
    if not by_method:
        raise SystemExit(f"no results under '{out}/cells/seed*'")

    def mean_std(values, fmt):
        if len(values) == 1:
            return format(values[0], fmt)
        return (f"{format(statistics.mean(values), fmt)} ± "
                f"{format(statistics.stdev(values), fmt)}")

    first = next(iter(by_method.values()))[0]
    archs = sample_architectures(first['archs'], first['arch_seed'])
    truth = load_ground_truth()
    counts = parameter_counts(archs)

    def size_columns(summary, method):
        # the condensed ranking against size (Spearman with the parameter
        # count) and what it tells beyond size (partial Spearman)
        cells = osp.join(out, 'cells', f"seed{summary['condense']['seed']}",
                         method)
        rows = [io.read_json(osp.join(cells, f'{i}.json')) for i in archs]
        ranks = ranks_of(rows)
        return (float(stats.spearmanr(ranks, counts)[0]),
                correlation_beyond_parameter_count(ranks, archs, truth))

    lines = ['| method | seeds | Spearman | per seed (p) | Kendall | '
             'Spearman with size | Spearman beyond size | Perf. % | '
             'condense s | peak RSS MB | paper Spearman |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for method, rows in by_method.items():
        with_size, beyond_size = zip(*(size_columns(r, method)
                                       for r in rows))
        metas = [r['condense'] for r in rows]
        seconds = [m['condense_seconds'] + m.get('train_condense_seconds',
                                                 0.0) for m in metas]
        rss = max(max(m['condense_peak_rss_mb'],
                      m.get('train_condense_peak_rss_mb', 0.0))
                  for m in metas)
        note = ' (incl. DC)' if 'train_condense_seconds' in metas[0] else ''
        per_seed = ', '.join(
            f"{r['spearman']:.3f} ({r['spearman_pvalue']:.2g})" for r in rows)
        lines.append(
            f"| {method} | {', '.join(str(m['seed']) for m in metas)} | "
            f"{mean_std([r['spearman'] for r in rows], '.3f')} | "
            f"{per_seed} | {mean_std([r['kendall'] for r in rows], '.3f')} | "
            f"{mean_std(with_size, '.3f')} | {mean_std(beyond_size, '.3f')} | "
            f"{mean_std([r['perf'] for r in rows], '.2f')} | "
            f"{mean_std(seconds, ',.0f')}{note} | {rss:,.0f} | "
            f"{PAPER[method]:+.2f} |")
    text = (f"# Table 1, CIFAR-10: ranking NAS-Bench-201 cells on condensed "
            f"data\n\n{first['archs']} architectures "
            f"(`sample_architectures({first['archs']}, "
            f"{first['arch_seed']})`), {first['ipc']} images per class, "
            f"TinyNetwork C=16 N=1 trained "
            f"{first['epochs']} full-batch Adam steps on S_train, scored on "
            f"S_val; ground truth: NAS-Bench-201 200-epoch CIFAR-10 test "
            f"accuracy (best of the sampled cells: "
            f"{first['best_sampled']:.2f} %). Mean ± standard deviation over "
            f"the condensation seeds listed.\n\nCommand, once per seed k: "
            f"`HCDC_DATA=../shared/data python examples/table1.py --archs "
            f"{first['archs']} --seed k`\n\n" + '\n'.join(lines) + '\n')
    free = parameter_count_correlation(archs, truth)
    text += (f"\nData-free reference: ranking the same architectures by "
             f"their parameter count (TinyNetwork C=16 N=1), no training: "
             f"Spearman {free['spearman']:.3f} (p "
             f"{free['spearman_pvalue']:.2g}), Kendall "
             f"{free['kendall']:.3f}. Spearman with size: the condensed "
             f"ranking against that count; beyond size: Spearman with the "
             f"count partialled out (0: nothing beyond size).\n")
    train = sum(r['train_seconds'] for rows in by_method.values()
                for r in rows)
    text += (f"\nTraining all architectures on the condensed sets took "
             f"{train / 60:.0f} min in all (2 CPU cores).\n")
    with open(osp.join(out, 'table1.md'), 'w') as f:
        f.write(text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=METHODS)
    parser.add_argument('--ipc', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--archs', type=int, default=100)
    parser.add_argument('--arch-seed', type=int, default=0)
    parser.add_argument('--epochs', type=int, default=300)
    parser.add_argument('--out', default='examples/results/table1')
    parser.add_argument('--work', default=None)
    parser.add_argument('--report-only', action='store_true')
    args = parser.parse_args()
    if not args.report_only:
        run(args)
    report(args.out)


if __name__ == '__main__':
    main()
