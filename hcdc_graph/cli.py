"""The ``hcdc-graph`` command line."""
import argparse
import sys
from typing import List, Optional

from hcdc_graph import __version__


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _train(args: argparse.Namespace) -> None:
    import torch

    from hcdc_graph.datasets import load_dataset
    from hcdc_graph.nn import PolyGNN
    from hcdc_graph.train import fit_node_classifier

    data = load_dataset(args.dataset, root=args.root)
    coeffs = torch.tensor(args.coeffs, dtype=torch.float)
    model = PolyGNN(data.num_features, args.hidden, int(data.y.max()) + 1,
                    K=len(args.coeffs) - 1, dropout=args.dropout)
    accs = [fit_node_classifier(model, data, coeffs, epochs=args.epochs,
                                seed=seed).test_acc for seed in args.seeds]
    mean = sum(accs) / len(accs)
    std = (sum((a - mean) ** 2 for a in accs) / max(1, len(accs) - 1)) ** .5
    print(f'{data.name}: PolyGNN filter {args.coeffs}, {args.epochs} epochs, '
          f'seeds {args.seeds}: test accuracy {100 * mean:.2f} ± '
          f'{100 * std:.2f} %')


def _condense(args: argparse.Namespace) -> None:
    from hcdc_graph import io
    from hcdc_graph.condense import CONDENSERS
    from hcdc_graph.datasets import load_dataset

    if args.method not in CONDENSERS:
        raise CLIError(f"unknown method '{args.method}'; choose one of "
                       f"{', '.join(CONDENSERS)}")
    if not 0 < args.ratio < 1:
        raise CLIError(f"--ratio must be in (0, 1) (got {args.ratio})")
    data = load_dataset(args.dataset, root=args.root)
    condensed = CONDENSERS[args.method](data, args.ratio,
                                        val_ratio=args.val_ratio,
                                        seed=args.seed,
                                        progress=not args.quiet).fit()
    io.save(condensed, args.out)
    print(f"{args.method} on {data.name} at ratio {args.ratio}: "
          f"{int(condensed.train_mask.sum())} training + "
          f"{int(condensed.val_mask.sum())} validation nodes, "
          f"{condensed.edge_index.size(1)} edges, "
          f"{condensed.condense_seconds:.1f} s -> {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    train.add_argument('--root', default=None,
                       help='data root (default: $HCDC_DATA or ./datasets)')
    train.add_argument('--coeffs', type=float, nargs='+', default=[1, -1, 0],
                       help='filter coefficients λ_0..λ_K (default: the GCN '
                            'filter 1 -1 0)')
    train.add_argument('--hidden', type=int, default=64)
    train.add_argument('--dropout', type=float, default=0.5)
    train.add_argument('--epochs', type=int, default=200)
    train.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    train.set_defaults(func=_train)

    condense = sub.add_parser(
        'condense', help='condense a dataset and save the condensed graph')
    condense.add_argument('--dataset', required=True)
    condense.add_argument('--method', required=True,
                          help='random, gcond-x or gcond')
    condense.add_argument('--ratio', type=float, required=True,
                          help='synthetic training nodes / all nodes')
    condense.add_argument('--val-ratio', type=float, default=None,
                          help='validation / training nodes (default: the '
                               'original ratio)')
    condense.add_argument('--seed', type=int, default=0)
    condense.add_argument('--out', required=True)
    condense.add_argument('--root', default=None)
    condense.add_argument('--quiet', action='store_true',
                          help='no progress bar')
    condense.set_defaults(func=_condense)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        args.func(args)
    except (CLIError, ValueError, FileNotFoundError) as e:
        print(f'hcdc-graph: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
