"""The ``hcdc-graph`` command line.

Every argument is parsed and checked (ranges, output paths) before torch or
any dataset is loaded, so a bad value is refused at once: a user error is
one line on stderr and exit status 2; an internal error keeps its
traceback.
"""
import argparse
import json
import math
import os.path as osp
import shlex
import sys
import time
from typing import Callable, List, Optional

from hcdc_graph import __version__
from hcdc_graph.paths import is_writable

# The condensers' names (hcdc_graph.condense.CONDENSERS), known here
# without importing torch.
GRAPH_METHODS = ('random', 'gcond-x', 'gcond', 'hcdc')


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error, as for every other user error."""
    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def _number(kind: type, low: Optional[float] = None,
            high: Optional[float] = None, open_low: bool = False,
            open_high: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite ``kind`` within the given bounds."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}")
        bad = not math.isfinite(value) or \
            (low is not None and (value <= low if open_low else value < low)) \
            or (high is not None and (value >= high if open_high
                                      else value > high))
        if bad:
            lo = '' if low is None else ('(' if open_low else '[') + f'{low}'
            hi = '' if high is None else f'{high}' + (')' if open_high
                                                      else ']')
            where = f'in {lo}, {hi}' if low is not None and high is not None \
                else f'at least {low}' if not open_low else f'above {low}'
            raise argparse.ArgumentTypeError(f"must be finite and {where} "
                                             f"(got {text})")
        return value
    return parse


POSITIVE_INT = _number(int, 1)
COUNT = _number(int, 0)
RATIO = _number(float, 0, 1, open_low=True, open_high=True)
FRACTION = _number(float, 0, 1)
POSITIVE = _number(float, 0, open_low=True)
NON_NEGATIVE = _number(float, 0)
FINITE = _number(float)


def _output_file(path: str) -> str:
    """An argparse type: a file path that can be written (its folder exists
    and is writable, it is no folder), checked before any work."""
    if not path:
        raise argparse.ArgumentTypeError("the output path is empty")
    if path == '-':
        return path
    if osp.isdir(path):
        raise argparse.ArgumentTypeError(f"'{path}' is a folder, not a file")
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise argparse.ArgumentTypeError(f"the folder of '{path}' does not "
                                         f"exist")
    if not is_writable(folder):
        raise argparse.ArgumentTypeError(f"the folder of '{path}' is not "
                                         f"writable")
    return path


def _output_dir(path: str) -> str:
    """An argparse type: a folder that exists or can be made, writable."""
    if not path:
        raise argparse.ArgumentTypeError("the output folder is empty")
    if osp.exists(path) and not osp.isdir(path):
        raise argparse.ArgumentTypeError(f"'{path}' is a file, not a folder")
    if not is_writable(path):
        raise argparse.ArgumentTypeError(f"'{path}' is not writable")
    return path


def _report(args: argparse.Namespace, text: str, obj: dict) -> None:
    """Prints ``text``; with ``--json FILE`` also writes ``obj`` there, with
    ``--json -`` to stdout (``text`` then goes to stderr)."""
    target = getattr(args, 'json', None)
    print(text, file=sys.stderr if target == '-' else sys.stdout)
    if target == '-':
        json.dump(obj, sys.stdout, indent=1)
        print()
    elif target:
        with open(target, 'w') as f:
            json.dump(obj, f, indent=1)


def _load(args: argparse.Namespace):
    from hcdc_graph.datasets import load_dataset
    return load_dataset(args.dataset, root=args.root,
                        **_generator_options(args))


# Options of the generated 'csbm' dataset: (flag, type, help).
GENERATOR_OPTIONS = (
    ('--num-nodes', POSITIVE_INT, 'number of nodes'),
    ('--num-classes', _number(int, 2), 'number of classes'),
    ('--avg-degree', POSITIVE, 'average degree (below --num-nodes)'),
    ('--homophily', FRACTION, 'share of same-class edges, in [0, 1]'),
    ('--feature-dim', POSITIVE_INT, 'node feature size'),
    ('--feature-noise', NON_NEGATIVE, 'feature noise scale'),
)


def _generator_options(args: argparse.Namespace) -> dict:
    """The GENERATOR_OPTIONS given, for the generated 'csbm' dataset only."""
    options = {}
    for flag, _, _ in GENERATOR_OPTIONS:
        key = flag[2:].replace('-', '_')
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    datasets = getattr(args, 'datasets', None) or [args.dataset]
    if options and any(d.lower() != 'csbm' for d in datasets):
        raise CLIError(f"--{next(iter(options)).replace('_', '-')} is an "
                       f"option of the generated dataset 'csbm' only")
    return options


def _train(args: argparse.Namespace) -> None:
    import torch

    from hcdc_graph.nn import PolyGNN
    from hcdc_graph.train import fit_node_classifier

    data = _load(args)
    coeffs = torch.tensor(args.coeffs, dtype=torch.float)
    model = PolyGNN(data.num_features, args.hidden, int(data.y.max()) + 1,
                    K=len(args.coeffs) - 1, dropout=args.dropout,
                    self_loops=args.self_loops)
    results = [fit_node_classifier(model, data, coeffs, epochs=args.epochs,
                                   seed=seed) for seed in args.seeds]
    if not all(math.isfinite(r.train_loss) for r in results):
        raise CLIError(f"training diverged (the loss is not finite) with "
                       f"the filter {args.coeffs}: scale the coefficients "
                       f"down (the sampled filters have peak gain 1)")
    accs = [r.test_acc for r in results]
    mean = sum(accs) / len(accs)
    std = (sum((a - mean) ** 2 for a in accs) / max(1, len(accs) - 1)) ** .5
    _report(args, f'{data.name}: PolyGNN filter {args.coeffs}, '
                  f'{args.epochs} epochs, seeds {args.seeds}: test accuracy '
                  f'{100 * mean:.2f} ± {100 * std:.2f} %',
            {'dataset': data.name, 'coeffs': args.coeffs,
             'seeds': args.seeds, 'self_loops': args.self_loops,
             'runs': [r.as_dict() for r in results]})


def _condense(args: argparse.Namespace) -> None:
    if args.method not in GRAPH_METHODS:
        raise CLIError(f"unknown method '{args.method}'; choose one of "
                       f"{', '.join(GRAPH_METHODS)}")
    options = {}
    if args.original_nodes is not None:
        if args.method != 'hcdc':
            raise CLIError("--original-nodes applies to --method hcdc only")
        options['original_nodes'] = args.original_nodes
    if args.self_loops is not None:
        if args.method != 'hcdc':
            raise CLIError("--self-loops / --no-self-loops apply to --method "
                           "hcdc only (the other methods evaluate no filter)")
        options['self_loops'] = args.self_loops
    if args.space is not None:
        if args.method != 'hcdc':
            raise CLIError("--space applies to --method hcdc only")
        options['space'] = args.space
    if args.compile:
        if args.method != 'gcond':
            raise CLIError("--compile applies to --method gcond only")
        options['compile'] = True
    resumable = args.method in ('gcond-x', 'gcond', 'hcdc')
    if args.resume and not resumable:
        raise CLIError("--resume applies to --method gcond-x, gcond and hcdc "
                       "(random keeps no checkpoint)")
    if resumable:
        options['checkpoint'] = f'{args.out}.checkpoint'
    from hcdc_graph import io
    from hcdc_graph.condense import CONDENSERS
    data = _load(args)
    condenser = CONDENSERS[args.method](data, args.ratio,
                                        val_ratio=args.val_ratio,
                                        seed=args.seed,
                                        progress=not args.quiet, **options)
    condensed = condenser.fit(resume=args.resume)
    certificate = ''
    if args.certify:
        c = condenser.certify(n_configs=args.certify)
        certificate = (f"\n  rank certificate: Spearman {c['spearman']:.2f} "
                       f"[{c['low']:.2f}, {c['high']:.2f}], Kendall "
                       f"{c['kendall']:.2f}, same best filter: "
                       f"{'yes' if c['top1'] else 'no'} ({c['seconds']:.0f} "
                       f"s). {c['note']}.")
    io.save(condensed, args.out)
    _report(args, f"{args.method} on {data.name} at ratio {args.ratio}: "
                  f"{int(condensed.train_mask.sum())} training + "
                  f"{int(condensed.val_mask.sum())} validation nodes, "
                  f"{condensed.edge_index.size(1)} edges, "
                  f"{condensed.condense_seconds:.1f} s -> {args.out}"
                  f"{certificate}",
            {'out': args.out, 'num_train': int(condensed.train_mask.sum()),
             'num_val': int(condensed.val_mask.sum()),
             'num_edges': int(condensed.edge_index.size(1)),
             **{k: v for k, v in condensed.to_dict().items()
                if isinstance(v, (str, int, float, bool))}})


IMAGE_CONDENSERS = ('random', 'dc', 'hcdc')


def _image_condense(args: argparse.Namespace) -> None:
    if args.method not in IMAGE_CONDENSERS:
        raise CLIError(f"unknown method '{args.method}'; choose one of "
                       f"{', '.join(IMAGE_CONDENSERS)}")
    from hcdc_graph.image.condense import DCCondenser, RandomImageCondenser
    from hcdc_graph.image.datasets import load_cifar10
    from hcdc_graph.image.hcdc import HCDCImageCondenser
    cls = {'random': RandomImageCondenser, 'dc': DCCondenser,
           'hcdc': HCDCImageCondenser}[args.method]
    data = load_cifar10(args.root)
    condensed = cls(data, args.ipc, seed=args.seed,
                    real_val_size=args.real_val_size,
                    progress=not args.quiet).fit()
    condensed.save(args.out)
    print(f"{args.method} on CIFAR-10, {args.ipc} images per class: "
          f"{condensed.train_x.size(0)} training + {condensed.val_x.size(0)} "
          f"validation images, {condensed.meta['condense_seconds']:.1f} s "
          f"-> {args.out}")


def _image_evaluate(args: argparse.Namespace) -> None:
    if args.archs < 3:
        raise CLIError(f"--archs must be at least 3 (got {args.archs})")
    from hcdc_graph.image.condense import CondensedImages
    from hcdc_graph.image.evaluation import rank_correlation
    from hcdc_graph.image.nasbench201 import (load_ground_truth,
                                              sample_architectures)
    condensed = CondensedImages.load(args.condensed)
    truth = load_ground_truth(args.table)
    archs = sample_architectures(args.archs, args.seed)
    result = rank_correlation(condensed, archs, truth, epochs=args.epochs,
                              out_dir=args.out_dir, progress=not args.quiet)
    _report(args, f"{condensed.meta.get('method', '?')}: {args.archs} "
                  f"architectures (seed {args.seed}): Spearman "
                  f"{result.spearman:.3f} (p = {result.spearman_pvalue:.2g}), "
                  f"Kendall {result.kendall:.3f}; Perf. {result.perf:.2f} % "
                  f"(best sampled {result.best_sampled:.2f} %)",
            result.as_dict())


def _recipe(args: argparse.Namespace):
    from hcdc_graph.evaluation import Recipe
    return Recipe(hidden=args.hidden, epochs=args.epochs,
                  seeds=tuple(args.train_seeds), self_loops=args.self_loops)


def _evaluate(args: argparse.Namespace) -> None:
    if args.configs < 3:
        raise CLIError(f"--configs must be at least 3 (got {args.configs})")
    from hcdc_graph import io
    from hcdc_graph.evaluation import (rank_correlation,
                                       sample_filter_configs,
                                       selected_performance)
    condensed = io.load(args.condensed)
    data = _load(args)
    if condensed.num_features != data.num_features:
        raise CLIError(f"'{args.condensed}' has {condensed.num_features} "
                       f"features but {data.name} has {data.num_features}: "
                       f"it was condensed from another dataset")
    configs = sample_filter_configs(args.configs, seed=args.config_seed)
    recipe = _recipe(args)
    rank = rank_correlation(data, condensed, configs, recipe,
                            progress=not args.quiet)
    perf = selected_performance(data, condensed, configs, recipe,
                                hpo_steps=args.hpo_steps, rank=rank)
    hpo = '–' if perf.hpo_test_acc is None else \
        f'{100 * perf.hpo_test_acc:.2f} %'
    _report(args, f"{data.name}, {args.configs} filters (config seed "
                  f"{args.config_seed}), condensed graph "
                  f"{getattr(condensed, 'method', '?')} with "
                  f"{int(condensed.train_mask.sum())} + "
                  f"{int(condensed.val_mask.sum())} nodes:\n"
                  f"  Corr. (Spearman) {rank.spearman:.3f}   Kendall τ "
                  f"{rank.kendall:.3f}   Spearman over the better half "
                  f"{rank.spearman_top_half:.3f}\n"
                  f"  Perf. {100 * perf.grid_test_acc:.2f} % (grid), {hpo} "
                  f"(HPO); whole-graph oracle "
                  f"{100 * perf.oracle_test_acc:.2f} %",
            {'dataset': data.name, 'condensed': args.condensed,
             **rank.as_dict(), **perf.as_dict()})


def _table2(args: argparse.Namespace) -> None:
    for method in args.methods:
        if method not in GRAPH_METHODS:
            raise CLIError(f"unknown method '{method}'; choose from "
                           f"{', '.join(GRAPH_METHODS)}")
    from hcdc_graph.table2 import run_table2
    start = time.perf_counter()
    text = run_table2(args.datasets, args.ratios, args.methods,
                      list(range(args.seeds)), args.out, args.configs,
                      args.config_seed, _recipe(args), args.hpo_steps,
                      args.root, args.report_only, not args.quiet,
                      _generator_options(args), args.ground_truth,
                      args.graph_dir, args.report,
                      # the command that makes this table, cells included
                      'hcdc-graph ' + shlex.join(
                          a for a in args.argv if a != '--report-only'),
                      args.compile)
    print(text)
    print(f"table2: {time.perf_counter() - start:.0f} s")


def _benchmark(args: argparse.Namespace) -> None:
    for method in args.methods:
        if method not in GRAPH_METHODS:
            raise CLIError(f"unknown method '{method}'; choose from "
                           f"{', '.join(GRAPH_METHODS)}")
    for operator in args.operators:
        if operator not in ('noloops', 'loops'):
            raise CLIError(f"unknown operator '{operator}'; choose from "
                           f"noloops, loops")
    from hcdc_graph.benchmark import RATIOS, run_benchmark
    for name in args.datasets:
        if name not in RATIOS:
            raise CLIError(f"unknown benchmark dataset '{name}'; choose from "
                           f"{', '.join(RATIOS)}")
    start = time.perf_counter()
    text = run_benchmark(args.datasets, args.out, args.ratios, args.methods,
                         list(range(args.seeds)), args.operators, args.root,
                         args.graph_dir, args.report_only, not args.quiet,
                         args.ground_truth, args.compile)
    print(text)
    print(f"benchmark: {time.perf_counter() - start:.0f} s")


def _search(args: argparse.Namespace) -> None:
    if args.storage is not None and not args.storage.startswith(
            ('sqlite:', 'journal:', 'postgresql')):
        raise CLIError(f"unknown --storage '{args.storage}': use "
                       f"sqlite:///FILE, journal:FILE or "
                       f"postgresql+psycopg2://USER@HOST/DB")
    if args.workers > 1 and args.storage is None:
        raise CLIError("--workers N shares one study: give --storage "
                       "journal:FILE (one machine) or a PostgreSQL URL")
    from hcdc_graph import io
    from hcdc_graph.evaluation import evaluate_configs
    from hcdc_graph.search import best_trial, retrain, search, trace
    data = _load(args)
    condensed = io.load(args.condensed) if args.condensed else data
    if condensed.num_features != data.num_features:
        raise CLIError(f"'{args.condensed}' has {condensed.num_features} "
                       f"features but {data.name} has {data.num_features}: "
                       f"it was condensed from another dataset")
    recipe = _recipe(args)
    start = time.perf_counter()
    try:
        study = search(condensed, args.trials, args.storage, args.sampler,
                       args.seed, args.study, recipe=recipe,
                       tune=args.tune, workers=args.workers,
                       progress=not args.quiet)
    except Exception as e:  # an unreachable database, a locked file, ...
        if type(e).__module__.startswith(('sqlalchemy', 'optuna')):
            raise CLIError(f"the study's storage failed: "
                           f"{str(e).splitlines()[0]}") from None
        raise
    seconds = time.perf_counter() - start
    best = best_trial(study)
    result = retrain(best.params, data, args.retrain_seeds, recipe=recipe)
    searched = args.condensed or f'{data.name} itself'
    extra = {}
    if args.trace:
        tick = time.perf_counter()
        extra['trace'] = trace(study, data, recipe=recipe)
        extra['trace_seconds'] = time.perf_counter() - tick
    if args.condensed:
        # The same trials on the original graph: a few timed, the rest
        # projected.
        measured = min(args.measure, args.trials)
        tick = time.perf_counter()
        evaluate_configs(data, _copies(best.user_attrs['coeffs'],
                                       measured), recipe)
        per_trial = (time.perf_counter() - tick) / max(1, measured)
        original_seconds = per_trial * args.trials
        versus = (f"on the original graph about {original_seconds:.0f} s "
                  f"({measured} timed, the rest projected), "
                  f"{original_seconds / max(seconds, 1e-9):.1f}x longer")
    else:
        measured, original_seconds = len(study.trials), seconds
        versus = 'the whole-graph search itself'
    _report(args, f"{data.name}: {len(study.trials)} trials on "
                  f"{searched} in {seconds:.0f} s "
                  f"({seconds / max(1, len(study.trials)):.2f} s a trial); "
                  f"{versus}.\n"
                  f"  best filter {[round(c, 4) for c in result['coeffs']]}"
                  f" (validation accuracy {best.value:.3f} on the searched "
                  f"graph); retrained on the original graph, test accuracy "
                  f"{100 * result['test_acc']:.2f} % (seeds "
                  f"{args.retrain_seeds})",
            {'dataset': data.name, 'condensed': args.condensed,
             'condense_seconds': _condense_seconds(condensed),
             'trials': len(study.trials), 'best_params': best.params,
             'best_value': best.value, 'search_seconds': seconds,
             'original_seconds_projected': original_seconds,
             'original_seconds_measured_trials': measured, **result,
             **extra})


def _condense_seconds(graph) -> float:
    """The condensation time a graph's metadata holds (0 for an original
    graph), so a search's wall time can count it."""
    return float(getattr(graph, 'condense_seconds', 0.0) or 0.0)


def _copies(coeffs, n: int):
    """``n`` copies of one filter, as a configs tensor (for timing)."""
    import torch
    return torch.tensor([coeffs]).repeat(n, 1) + \
        1e-6 * torch.arange(n).view(-1, 1)  # distinct, as configs must be


def _plot(args: argparse.Namespace) -> None:
    cells = []
    for path in args.results:
        try:
            with open(path) as f:
                cells.append(json.load(f))
        except (OSError, ValueError) as e:
            raise CLIError(f"cannot read '{path}': {e}") from None
    from hcdc_graph.plot import PLOTS
    PLOTS[args.kind](cells, args.out)
    print(f"{args.kind}: {len(cells)} results -> {args.out}")


def _nas(args: argparse.Namespace) -> None:
    if args.archs is None and args.seconds is None:
        raise CLIError("give a budget: --archs N and/or --seconds S")
    from hcdc_graph import io
    from hcdc_graph.nas import Architecture, ChildRecipe, retrain, search
    data = _load(args)
    graph = data
    if args.condensed:
        graph = io.load(args.condensed)
        if graph.num_features != data.num_features:
            raise CLIError(f"'{args.condensed}' has {graph.num_features} "
                           f"features but {data.name} has "
                           f"{data.num_features}: it was condensed from "
                           f"another dataset")
    recipe = ChildRecipe(epochs=args.epochs, max_width=args.max_width)
    result = search(graph, args.strategy, args.archs, args.seconds,
                    args.seed, recipe, args.history, not args.quiet)
    best = Architecture.from_dict(result['best']['arch'])
    final = retrain(best, data, args.retrain_seeds, recipe)
    seconds = result['history'][-1]['elapsed']
    if args.trace:
        from hcdc_graph.nas.search import merit
        from hcdc_graph.search import incumbent_trace
        result['trace'] = incumbent_trace(
            result['history'], merit, lambda e: e['elapsed'],
            lambda e: retrain(Architecture.from_dict(e['arch']), data, (0, ),
                              recipe)['test_acc'])
    _report(args, f"{args.strategy} search on "
                  f"{args.condensed or data.name}: {len(result['history'])} "
                  f"architectures in {seconds:.0f} s; best {best} "
                  f"(validation accuracy {result['best']['val_acc']:.3f}); "
                  f"retrained on {data.name}: test accuracy "
                  f"{100 * final['test_acc']:.2f} % (seeds "
                  f"{args.retrain_seeds})",
            {'dataset': data.name, 'condensed': args.condensed,
             'condense_seconds': _condense_seconds(graph),
             'strategy': args.strategy, 'seed': args.seed, **result,
             'retrained': final})


def _nas_bench(args: argparse.Namespace) -> None:
    from hcdc_graph import io
    from hcdc_graph.nas.bench import bench_agreement, load_bench, sample_bench
    table = load_bench(args.bench or args.dataset)
    graph = io.load(args.condensed) if args.condensed else _load(args)
    archs = sample_bench(table, args.archs, args.seed)
    result = bench_agreement(graph, table, archs, {'epochs': args.epochs},
                             progress=not args.quiet)
    _report(args, f"NAS-Bench-Graph ({args.bench or args.dataset}), "
                  f"{args.archs} architectures (seed {args.seed}) trained on "
                  f"{args.condensed or args.dataset}: Spearman "
                  f"{result['spearman']:.3f} (null sd "
                  f"{result['null_sd']:.2f}), Kendall {result['kendall']:.3f};"
                  f" Perf. {100 * result['perf']:.2f} % (best sampled "
                  f"{100 * result['best_sampled_perf']:.2f} %); parameter "
                  f"count alone: Spearman {result['floor_parameters']:.3f}; "
                  f"{result['seconds']:.0f} s",
            {'bench': args.bench or args.dataset, 'condensed': args.condensed,
             'archs': args.archs, 'seed': args.seed, **result})


def _add_operator_option(parser: argparse.ArgumentParser,
                         default: Optional[bool] = True) -> None:
    parser.add_argument('--self-loops', action=argparse.BooleanOptionalAction,
                        default=default,
                        help="the filter's Laplacian: of A + I "
                             "(--self-loops, the default) or ChebNet's, of A "
                             "without self-loops (--no-self-loops)")


def _add_recipe_options(parser: argparse.ArgumentParser) -> None:
    _add_operator_option(parser)
    parser.add_argument('--configs', type=_number(int, 3), default=80,
                        help='number of sampled filters (default: 80)')
    parser.add_argument('--config-seed', type=int, default=0,
                        help='seed of the sampled filters (order K = 2)')
    parser.add_argument('--hidden', type=POSITIVE_INT, default=64)
    parser.add_argument('--epochs', type=POSITIVE_INT, default=200,
                        help='training epochs per filter (default: 200)')
    parser.add_argument('--train-seeds', type=int, nargs='+', default=[0],
                        help='training seeds averaged per filter')
    parser.add_argument('--hpo-steps', type=COUNT, default=20,
                        help='continuous HPO steps on the condensed graph '
                             '(0: grid only)')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bars')


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--json', type=_output_file, default=None,
                        help="also write the results as JSON to this file "
                             "('-': stdout, the text then goes to stderr)")


def _add_runner_options(parser: argparse.ArgumentParser) -> None:
    """The options of the resumable runners (table2, benchmark)."""
    parser.add_argument('--ground-truth', default=None, metavar='DIR',
                        help='folder of the cached original-graph results '
                             '(default: <out>/ground_truth)')
    parser.add_argument('--graph-dir', default=None, metavar='DIR',
                        help='folder of the condensed graphs, reused when '
                             'there (default: <cache>/table2/graphs)')
    parser.add_argument('--report-only', action='store_true',
                        help='rebuild the report from the cells found; '
                             'compute nothing')
    _add_compile_option(parser)


def _add_compile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--compile', action='store_true',
                        help='gcond: torch.compile its graph generator (the '
                             'same graphs at float rounding; structure '
                             'epochs about 2.5x faster on a CPU)')


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--root', default=None,
                        help='data root (default: $HCDC_DATA or ./datasets)')
    group = parser.add_argument_group('generated graphs (--dataset csbm)')
    for flag, kind, text in GENERATOR_OPTIONS:
        group.add_argument(flag, type=kind, default=None, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog='hcdc-graph',
        description='Hyperparameter-calibrated dataset condensation for '
                    'PyTorch Geometric.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    train = sub.add_parser(
        'train', help='train PolyGNN with one filter on a dataset and print '
                      'its test accuracy')
    train.add_argument('--dataset', default='Cora')
    train.add_argument('--coeffs', type=FINITE, nargs='+', default=[1, -1, 0],
                       help='filter coefficients λ_0..λ_K (default: the GCN '
                            'filter 1 -1 0)')
    train.add_argument('--hidden', type=POSITIVE_INT, default=64)
    train.add_argument('--dropout', type=_number(float, 0, 1,
                                                 open_high=True),
                       default=0.5)
    train.add_argument('--epochs', type=POSITIVE_INT, default=200)
    train.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    _add_json_option(train)
    _add_operator_option(train)
    _add_data_options(train)
    train.set_defaults(func=_train)

    condense = sub.add_parser(
        'condense', help='condense a dataset and save the condensed graph')
    condense.add_argument('--dataset', required=True)
    condense.add_argument('--method', required=True,
                          help='random, gcond-x, gcond or hcdc')
    condense.add_argument('--ratio', type=RATIO, required=True,
                          help='synthetic training nodes / all nodes')
    condense.add_argument('--val-ratio', type=POSITIVE, default=None,
                          help='validation / training nodes (default: the '
                               'original ratio)')
    condense.add_argument('--seed', type=int, default=0)
    condense.add_argument('--original-nodes', type=POSITIVE_INT, default=None,
                          help='hcdc only: original-graph hypergradients on '
                               'random samples of this many nodes (graphs '
                               'too large for full batch, e.g. Reddit)')
    condense.add_argument('--space', choices=('filters', 'nas-bench-graph'),
                          default=None,
                          help='hcdc only: calibrate S_val for the filter '
                               "coefficients (default) or NAS-Bench-Graph's "
                               'op choices')
    condense.add_argument('--out', type=_output_file, required=True)
    condense.add_argument('--certify', type=_number(int, 3), default=None,
                          metavar='N',
                          help='train N held-out filters on both graphs and '
                               'store a rank certificate with the graph')
    condense.add_argument('--resume', action='store_true',
                          help='gcond-x, gcond, hcdc: continue an '
                               'interrupted run from OUT.checkpoint '
                               '(written at every epoch)')
    _add_compile_option(condense)
    _add_json_option(condense)
    condense.add_argument('--quiet', action='store_true',
                          help='no progress bar')
    _add_operator_option(condense, default=None)
    _add_data_options(condense)
    condense.set_defaults(func=_condense)

    evaluate = sub.add_parser(
        'evaluate', help='rank correlation and selected-filter performance '
                         'of a condensed graph')
    evaluate.add_argument('--dataset', required=True)
    evaluate.add_argument('--condensed', required=True,
                          help='a file written by `hcdc-graph condense`')
    _add_json_option(evaluate)
    _add_recipe_options(evaluate)
    _add_data_options(evaluate)
    evaluate.set_defaults(func=_evaluate)

    table2 = sub.add_parser(
        'table2', help="reproduce the paper's Table 2 (resumable cells)")
    table2.add_argument('--datasets', nargs='+', default=['Cora', 'CiteSeer'])
    table2.add_argument('--ratios', type=RATIO, nargs='+', default=None,
                        help="default: the paper's ratios per dataset")
    table2.add_argument('--methods', nargs='+',
                        default=['random', 'gcond-x', 'gcond', 'hcdc'])
    table2.add_argument('--seeds', type=POSITIVE_INT, default=3,
                        help='condensation seeds 0..N-1 (default: 3)')
    table2.add_argument('--out', type=_output_dir, required=True,
                        help='folder for cells/*.json and table2.md')
    _add_runner_options(table2)
    table2.add_argument('--report', type=_output_file, default=None,
                        metavar='FILE',
                        help='where the table goes (default: '
                             '<out>/table2.md)')
    _add_recipe_options(table2)
    _add_data_options(table2)
    table2.set_defaults(func=_table2)

    benchmark = sub.add_parser(
        'benchmark', help='rank-preservation benchmark v2: both filter '
                          'operators, floors, ceilings, regret (resumable)')
    benchmark.add_argument('--datasets', nargs='+', required=True,
                           help='Cora CiteSeer chameleon squirrel '
                                'csbm-h0.1 csbm-h0.5 csbm-h0.9')
    benchmark.add_argument('--ratios', type=RATIO, nargs='+', default=None,
                           help='default: the protocol ratios per dataset')
    benchmark.add_argument('--methods', nargs='+',
                           default=['random', 'gcond-x', 'gcond'])
    benchmark.add_argument('--operators', nargs='+',
                           default=['noloops', 'loops'])
    benchmark.add_argument('--seeds', type=POSITIVE_INT, default=3,
                           help='condensation seeds 0..N-1 (default: 3)')
    benchmark.add_argument('--out', type=_output_dir, required=True,
                           help='folder for cells/, ground_truth/, '
                                'ceilings/ and benchmark_v2.md')
    _add_runner_options(benchmark)
    benchmark.add_argument('--root', default=None,
                           help='data root (default: $HCDC_DATA)')
    benchmark.add_argument('--quiet', action='store_true')
    benchmark.set_defaults(func=_benchmark)

    search = sub.add_parser(
        'search', help='an Optuna search on a condensed graph, the winner '
                       'retrained on the original graph')
    search.add_argument('--dataset', required=True,
                        help='the original graph (for retraining)')
    search.add_argument('--condensed', default=None,
                        help='a file written by `hcdc-graph condense` '
                             '(default: search the original graph itself, '
                             'the whole-graph search a condensed graph '
                             'stands in for)')
    search.add_argument('--trials', type=POSITIVE_INT, default=100)
    search.add_argument('--trace', action='store_true',
                        help='add the search trace to the JSON: per trial '
                             'its time and the original-graph test accuracy '
                             'of the incumbent (retrains each incumbent '
                             'once; `hcdc-graph plot speedup` draws it)')
    search.add_argument('--storage', default=None,
                        help='sqlite:///FILE (resumable), journal:FILE '
                             '(several local workers) or '
                             'postgresql+psycopg2://USER@HOST/DB (many '
                             'machines); default: in memory')
    search.add_argument('--workers', type=POSITIVE_INT, default=1,
                        help='processes on this machine sharing --storage')
    search.add_argument('--study', default='hcdc-search',
                        help='study name (default: hcdc-search)')
    search.add_argument('--sampler', choices=('tpe', 'random'),
                        default='tpe')
    search.add_argument('--seed', type=int, default=0)
    search.add_argument('--tune', nargs='*', default=[],
                        choices=('lr', 'weight_decay', 'dropout', 'hidden'),
                        help='also tune these (default: the filter only)')
    search.add_argument('--retrain-seeds', type=int, nargs='+',
                        default=[0, 1, 2])
    search.add_argument('--measure', type=COUNT, default=3,
                        help='trials timed on the original graph for the '
                             'projected comparison (default: 3)')
    _add_json_option(search)
    search.add_argument('--hidden', type=POSITIVE_INT, default=64)
    search.add_argument('--epochs', type=POSITIVE_INT, default=200)
    search.add_argument('--train-seeds', type=int, nargs='+', default=[0],
                        help='training seeds averaged per trial')
    search.add_argument('--quiet', action='store_true')
    _add_operator_option(search)
    _add_data_options(search)
    search.set_defaults(func=_search)

    nas = sub.add_parser(
        'nas', help='GraphNAS architecture search on a dataset or a '
                    'condensed graph, the winner retrained on the dataset')
    nas.add_argument('--dataset', required=True)
    nas.add_argument('--condensed', default=None,
                     help='search on this condensed graph instead')
    nas.add_argument('--strategy', choices=('random', 'reinforce'),
                     default='reinforce')
    nas.add_argument('--archs', type=POSITIVE_INT, default=None,
                     help='architectures to train (budget)')
    nas.add_argument('--seconds', type=POSITIVE, default=None,
                     help='search wall time (budget)')
    nas.add_argument('--seed', type=int, default=0)
    nas.add_argument('--epochs', type=POSITIVE_INT, default=200,
                     help='training epochs per architecture')
    nas.add_argument('--max-width', type=POSITIVE_INT, default=None,
                     help='cap on heads x hidden of the first layer')
    nas.add_argument('--history', type=_output_file, default=None,
                     help='JSON-lines history; a rerun resumes from it')
    nas.add_argument('--retrain-seeds', type=int, nargs='+',
                     default=[0, 1, 2])
    nas.add_argument('--trace', action='store_true',
                     help='add the search trace to the JSON: the dataset '
                          'test accuracy of the incumbent after every '
                          'architecture (each incumbent retrained once; '
                          '`hcdc-graph plot speedup` draws it)')
    _add_json_option(nas)
    nas.add_argument('--quiet', action='store_true')
    _add_data_options(nas)
    nas.set_defaults(func=_nas)

    bench = sub.add_parser(
        'nas-bench', help='rank NAS-Bench-Graph architectures on a graph '
                          'against the benchmark table')
    bench.add_argument('--dataset', required=True,
                       help='the dataset (and table, unless --bench)')
    bench.add_argument('--bench', default=None,
                       help="the table's name (default: the dataset's, "
                            "e.g. cora, citeseer)")
    bench.add_argument('--condensed', default=None,
                       help='train on this condensed graph (default: the '
                            'dataset itself, to calibrate)')
    bench.add_argument('--archs', type=_number(int, 3), default=100)
    bench.add_argument('--seed', type=int, default=0)
    bench.add_argument('--epochs', type=POSITIVE_INT, default=200)
    _add_json_option(bench)
    bench.add_argument('--quiet', action='store_true')
    _add_data_options(bench)
    bench.set_defaults(func=_nas_bench)

    plot = sub.add_parser(
        'plot', help='pictures of rank preservation and of searches from '
                     'the JSON files the commands write')
    plot.add_argument('kind', choices=('ranking', 'scatter', 'speedup'),
                      help='ranking: strips of the configs ordered by each '
                           'ranking; scatter: condensed against original '
                           'validation accuracy; speedup: best original '
                           'test accuracy so far against wall time')
    plot.add_argument('results', nargs='+',
                      help='cell files (benchmark or table2 cells/*.json) '
                           'for ranking and scatter; the --json files of '
                           '`hcdc-graph search --trace` or `hcdc-graph nas '
                           '--trace` for speedup')
    plot.add_argument('--out', type=_output_file, required=True,
                      help='the PNG to write')
    plot.set_defaults(func=_plot)

    image = sub.add_parser(
        'image', help='HCDC on CIFAR-10 over the NAS-Bench-201 cell space')
    image_sub = image.add_subparsers(dest='image_command', metavar='COMMAND',
                                     required=True)
    icondense = image_sub.add_parser('condense', help='condense CIFAR-10')
    icondense.add_argument('--method', required=True,
                           help=', '.join(IMAGE_CONDENSERS))
    icondense.add_argument('--ipc', type=POSITIVE_INT, default=10,
                           help='training images per class (default: 10)')
    icondense.add_argument('--seed', type=int, default=0)
    icondense.add_argument('--real-val-size', type=POSITIVE_INT, default=5000,
                           help='training images held out as the original '
                                'validation set (default: 5000)')
    icondense.add_argument('--out', type=_output_file, required=True)
    icondense.add_argument('--root', default=None)
    icondense.add_argument('--quiet', action='store_true')
    icondense.set_defaults(func=_image_condense)
    ievaluate = image_sub.add_parser(
        'evaluate', help='rank NAS-Bench-201 cells on condensed images')
    ievaluate.add_argument('--condensed', required=True)
    ievaluate.add_argument('--archs', type=_number(int, 3), default=100)
    ievaluate.add_argument('--seed', type=int, default=0,
                           help='seed of the architecture sample')
    ievaluate.add_argument('--epochs', type=POSITIVE_INT, default=300)
    ievaluate.add_argument('--table', default=None,
                           help='NAS-Bench-201 CSV (default: under the data '
                                'root)')
    ievaluate.add_argument('--out-dir', default=None,
                           help='per-architecture results (resumable)')
    _add_json_option(ievaluate)
    ievaluate.add_argument('--quiet', action='store_true')
    ievaluate.set_defaults(func=_image_evaluate)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line error
        return e.code
    args.argv = sys.argv[1:] if argv is None else list(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        args.func(args)
    except (CLIError, ValueError, FileNotFoundError) as e:
        print(f'hcdc-graph: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
