"""Which part of a filter's frequency response does each ranking follow?

    python examples/filter_response.py examples/results/table2/cells/*.json

For every Table 2 cell given (its per-config table), prints Spearman's
correlation between the accuracies of the configs and the magnitude of
their frequency response |h(mu)| = |sum_k lambda_k mu^k| at a few
eigenvalues mu of the normalized Laplacian (0: the smoothest signals, 2: the
most oscillating): first for the original graph's validation accuracies,
then for the condensed graph's. A condensed graph that ranks the filters
like the original follows the same part of the spectrum.
"""
import argparse

import numpy as np
import torch

from hcdc_graph import io
from hcdc_graph.evaluation import frequency_response_correlation

MU = (0.0, 0.5, 1.0, 1.5, 2.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('cells', nargs='+')
    args = parser.parse_args()
    print('| ranking | ' + ' | '.join(f'|h({mu})|' for mu in MU) + ' |')
    print('|---' * (len(MU) + 1) + '|')
    original_done = set()
    for path in args.cells:
        cell = io.read_json(path)
        table = cell['table']
        coeffs = torch.tensor([row['coeffs'] for row in table])
        rows = []
        key = (cell['dataset'], cell['num_configs'], cell['config_seed'])
        if key not in original_done:
            original_done.add(key)
            rows.append((f"{cell['dataset']} original",
                         [row['original_val_acc'] for row in table]))
        rows.append((f"{cell['method']} {cell['ratio']:.1%} seed "
                     f"{cell['seed']} (Spearman {cell['spearman']:.2f})",
                     [row['condensed_val_acc'] for row in table]))
        for name, acc in rows:
            rho = [frequency_response_correlation(np.array(acc), coeffs,
                                                  mu)['spearman']
                   for mu in MU]
            print(f'| {name} | ' + ' | '.join(f'{r:.2f}' for r in rho)
                  + ' |')


if __name__ == '__main__':
    main()
