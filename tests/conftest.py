import os
import os.path as osp

import pytest
import torch

# One thread per test process: two torch processes on 2 cores oversubscribe
# badly (a GCond-X run took 260 s with 2 threads beside another job, 30 s
# with 1), so the suite degrades gracefully when it shares the machine.
torch.set_num_threads(int(os.environ.get('HCDC_TEST_THREADS', '1')))
os.environ.setdefault('OMP_NUM_THREADS', '1')  # for the tests' subprocesses

SHARED_DATA = osp.abspath(osp.join(osp.dirname(__file__), '..', '..',
                                   'shared', 'data'))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Processed files of read-only data roots go to a per-session cache, never
    # into the user's home during tests.
    monkeypatch.setenv('HCDC_CACHE', str(tmp_path_factory.getbasetemp() /
                                         'cache'))


def data_file(*parts):
    """The path of a file of the offline data ($HCDC_DATA or ../shared/data),
    or None."""
    for root in (os.environ.get('HCDC_DATA'), SHARED_DATA):
        if root and osp.exists(osp.join(root, *parts)):
            return osp.join(root, *parts)
    return None


def planetoid_root():
    """The data root that holds Planetoid's raw files, or None."""
    for root in (os.environ.get('HCDC_DATA'), SHARED_DATA):
        if root and osp.isdir(osp.join(root, 'Planetoid', 'Cora', 'raw')):
            return root
    return None


requires_planetoid = pytest.mark.skipif(
    planetoid_root() is None,
    reason='Planetoid raw files not found ($HCDC_DATA or ../shared/data)')


def minimize_lbfgs(loss, params, hparams, rounds=10, tolerance_grad=1e-12):
    """Copies of ``params`` minimizing ``loss(params, hparams)`` to high
    precision (LBFGS with a strong-Wolfe line search; float64 advised):
    the trained point that implicit hypergradients assume. The returned
    tensors are fresh leaves that require grad."""
    params = [p.detach().clone().requires_grad_(True) for p in params]
    opt = torch.optim.LBFGS(params, lr=1, max_iter=500,
                            tolerance_grad=tolerance_grad,
                            tolerance_change=1e-15,
                            line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        value = loss(params, hparams)
        value.backward()
        return value

    for _ in range(rounds):
        opt.step(closure)
    return params
