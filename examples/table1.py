"""Table 1, CIFAR-10 row: how well a condensed CIFAR-10 ranks NAS-Bench-201
cells, for Random, DC and HCDC on the same architectures.

    python examples/table1.py --archs 30 --out examples/results/table1

Per method (seed ``--seed``, ``--ipc`` images per class): condense CIFAR-10
once and record the wall time and peak RSS (HCDC learns S_val on DC's
S_train, so its cost is its own plus DC's); then train every architecture of
``sample_architectures(--archs, --arch-seed)`` (``TinyNetwork``, C=16, N=1,
``--epochs`` full-batch Adam steps on S_train), score it on S_val and
compare the ranking with the NAS-Bench-201 CIFAR-10 test accuracy
(Spearman, Kendall, Perf. = ground truth of the top-ranked cell).

About 20-50 s per architecture on 2 CPU cores. ``sample_architectures(n)``
for a smaller n is a subset of the sample for a larger n, so a run can be
extended (``--archs 100`` reuses the architectures already trained).
Condensed sets are kept under ``--work`` (default: the cache directory);
per-architecture results and per-method summaries are JSON files under
``<out>/cells``, skipped on a rerun; ``<out>/table1.md`` is rewritten from
them.
"""
import argparse
import os
import os.path as osp

from hcdc_graph import io
from hcdc_graph.datasets import cache_dir
from hcdc_graph.image.condense import (CondensedImages, DCCondenser,
                                       RandomImageCondenser)
from hcdc_graph.image.datasets import load_cifar10
from hcdc_graph.image.evaluation import rank_correlation
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
    for method in args.methods:
        condensed = condensed_set(method, args, data, work)
        result = rank_correlation(
            condensed, archs, truth, epochs=args.epochs,
            out_dir=osp.join(args.out, 'cells', method), progress=True)
        summary = {k: v for k, v in result.as_dict().items() if k != 'table'}
        summary.update(
            method=method, ipc=args.ipc, archs=len(archs),
            arch_seed=args.arch_seed, epochs=args.epochs,
            train_seconds=sum(r['seconds'] for r in result.table),
            condense=condensed.meta)
        io.write_json(osp.join(args.out, 'cells', f'{method}.json'), summary,
                      indent=1)
        print(f"{method}: Spearman {result.spearman:.3f}, Kendall "
              f"{result.kendall:.3f}, Perf. {result.perf:.2f} %", flush=True)


def report(out):
    rows = []
    for method in METHODS:
        path = osp.join(out, 'cells', f'{method}.json')
        if osp.exists(path):
            rows.append(io.read_json(path))
    if not rows:
        raise SystemExit(f"no results under '{out}/cells'")
    lines = ['| method | Spearman (p) | Kendall | Perf. % (best sampled) | '
             'condense s | peak RSS MB | paper Spearman |',
             '|---|---|---|---|---|---|---|']
    for r in rows:
        meta = r['condense']
        seconds = meta['condense_seconds'] + meta.get(
            'train_condense_seconds', 0.0)
        rss = max(meta['condense_peak_rss_mb'],
                  meta.get('train_condense_peak_rss_mb', 0.0))
        note = ' (incl. DC)' if 'train_condense_seconds' in meta else ''
        lines.append(
            f"| {r['method']} | {r['spearman']:.3f} "
            f"({r['spearman_pvalue']:.2g}) | {r['kendall']:.3f} | "
            f"{r['perf']:.2f} ({r['best_sampled']:.2f}) | "
            f"{seconds:,.0f}{note} | {rss:,.0f} | "
            f"{PAPER[r['method']]:+.2f} |")
    first = rows[0]
    text = (f"# Table 1, CIFAR-10: ranking NAS-Bench-201 cells on condensed "
            f"data\n\n{first['archs']} architectures "
            f"(`sample_architectures({first['archs']}, "
            f"{first['arch_seed']})`), {first['ipc']} images per class, "
            f"TinyNetwork C=16 N=1 trained "
            f"{first['epochs']} full-batch Adam steps on S_train, scored on "
            f"S_val; ground truth: NAS-Bench-201 200-epoch CIFAR-10 test "
            f"accuracy. One condensation seed ({first['condense']['seed']})."
            f"\n\nCommand: `HCDC_DATA=../shared/data python "
            f"examples/table1.py --archs {first['archs']}`\n\n"
            + '\n'.join(lines) + '\n')
    train = sum(r['train_seconds'] for r in rows)
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
