import os

import pytest
import torch
from torch_geometric.data import Data

from hcdc_graph import io
from hcdc_graph.condense import (CONDENSERS, GCondCondenser, GCondXCondenser,
                                 RandomCondenser)
from hcdc_graph.condense.base import allocate, sampled_subgraph
from hcdc_graph.condense.gcond import dense_propagate
from hcdc_graph.matching import gradient_distance
from hcdc_graph.datasets import csbm

FAST = {'random': {}, 'gcond-x': dict(epochs=3, outer_loop=2, inner_loop=1),
        'gcond': dict(epochs=3, outer_loop=2, inner_loop=1,
                      structure_epochs=1, cycle=2, pge_hidden=16),
        'hcdc': dict(hidden=8, num_configs=2,
                     trajectory_steps=1, epochs=2, train_epochs=20,
                     neumann_steps=3)}


@pytest.fixture(scope='module')
def graph():
    data = csbm(num_nodes=300, num_classes=3, avg_degree=5, homophily=0.8,
                feature_dim=8, seed=0, train_ratio=0.2, val_ratio=0.2)
    data.name = 'csbm'
    return data


def condense(method, data, **kwargs):
    return CONDENSERS[method](data, progress=False,
                              **{**FAST[method], **kwargs}).fit()


@pytest.mark.parametrize('method', list(CONDENSERS))
def test_common_shape(method, graph):
    out = condense(method, graph, ratio=0.05, seed=1)
    n_train = int(graph.train_mask.sum())
    n_val = int(graph.val_mask.sum())
    c_train = int(out.train_mask.sum())
    assert c_train == round(0.05 * 300)
    assert int(out.val_mask.sum()) == round(c_train * n_val / n_train)
    assert not (out.train_mask & out.val_mask).any()
    assert out.x.shape == (out.num_nodes, 8) and out.y.shape == (
        out.num_nodes, )
    assert out.edge_weight.numel() == out.edge_index.size(1)
    assert torch.isfinite(out.x).all()
    assert out.edge_index.numel() == 0 or out.edge_index.max() < \
        out.num_nodes
    # every class in the synthetic training nodes
    assert set(out.y[out.train_mask].tolist()) == {0, 1, 2}
    assert out.method == method and out.ratio == 0.05 and out.seed == 1
    assert out.source == 'csbm' and out.condense_seconds > 0
    # a drop-in input for PyG models
    from torch_geometric.nn import GCNConv
    assert GCNConv(8, 4)(out.x, out.edge_index, out.edge_weight).shape == \
        (out.num_nodes, 4)


@pytest.mark.parametrize('method', list(CONDENSERS))
def test_deterministic_under_seed(method, graph):
    a = condense(method, graph, ratio=0.05, seed=3)
    b = condense(method, graph, ratio=0.05, seed=3)
    c = condense(method, graph, ratio=0.05, seed=4)
    for key in ('x', 'y', 'edge_index', 'edge_weight', 'train_mask'):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a.x, c.x) or not torch.equal(a.y, c.y)


def test_val_ratio_option(graph):
    out = condense('random', graph, ratio=0.05, val_ratio=0.5)
    assert int(out.val_mask.sum()) == round(0.5 * int(out.train_mask.sum()))


def test_random_is_an_induced_subgraph(graph):
    out = condense('random', graph, ratio=0.1, seed=0)
    idx = out.original_index
    assert torch.equal(out.x, graph.x[idx]) and torch.equal(out.y,
                                                            graph.y[idx])
    assert graph.train_mask[idx[out.train_mask]].all()
    assert graph.val_mask[idx[out.val_mask]].all()
    edges = set(map(tuple, graph.edge_index.t().tolist()))
    for s, d in out.edge_index.t().tolist():
        assert (int(idx[s]), int(idx[d])) in edges


def test_sampled_subgraph_is_induced_and_seeded(graph):
    gen = torch.Generator().manual_seed(0)
    out = sampled_subgraph(graph, 120, gen)
    idx = out.original_index
    assert out.num_nodes == 120 and idx.unique().numel() == 120
    assert torch.equal(out.x, graph.x[idx]) and torch.equal(out.y,
                                                            graph.y[idx])
    assert torch.equal(out.train_mask, graph.train_mask[idx])
    assert torch.equal(out.val_mask, graph.val_mask[idx])
    # exactly the edges between sampled nodes, relabelled
    kept = torch.zeros(graph.num_nodes, dtype=torch.bool)
    kept[idx] = True
    inside = kept[graph.edge_index].all(dim=0)
    expected = set(map(tuple, graph.edge_index[:, inside].t().tolist()))
    got = {(int(idx[s]), int(idx[d])) for s, d in out.edge_index.t().tolist()}
    assert got == expected and out.edge_index.size(1) == int(inside.sum())
    again = sampled_subgraph(graph, 120, torch.Generator().manual_seed(0))
    assert torch.equal(again.original_index, idx)
    other = sampled_subgraph(graph, 120, torch.Generator().manual_seed(1))
    assert not torch.equal(other.original_index, idx)
    with pytest.raises(ValueError, match='Cannot sample 301'):
        sampled_subgraph(graph, 301, gen)
    no_val = graph.clone()
    no_val.val_mask = torch.zeros(300, dtype=torch.bool)
    with pytest.raises(ValueError, match="no 'val_mask' node"):
        sampled_subgraph(no_val, 200, gen)


def test_gcond_x_has_no_edges_and_gcond_has_weighted_ones(graph):
    x = condense('gcond-x', graph, ratio=0.05)
    assert x.edge_index.size(1) == 0
    g = GCondCondenser(graph, 0.05, progress=False, threshold=0.0,
                       **FAST['gcond']).fit()
    assert g.edge_index.size(1) > 0
    assert ((g.edge_weight > 0) & (g.edge_weight < 1)).all()
    assert (g.edge_index[0] != g.edge_index[1]).all()  # zero diagonal


def test_dense_propagate_forms_the_operator_power_only_as_a_shortcut():
    gen = torch.Generator().manual_seed(0)
    adj = torch.rand(5, 5, generator=gen)
    adj = (adj + adj.t()) / 2
    for d in (3, 8):  # more nodes than features (loop), then fewer (power)
        x = torch.randn(5, d, generator=gen)
        a = torch.eye(5) + adj
        norm = a / a.sum(1).sqrt().view(-1, 1) / a.sum(1).sqrt().view(1, -1)
        torch.testing.assert_close(dense_propagate(x, adj, 3),
                                   norm @ norm @ norm @ x)


def test_compiled_generator_gives_the_eager_graph(graph):
    options = dict(FAST['gcond'], pge_hidden=8)
    eager = GCondCondenser(graph, 0.05, progress=False, **options)
    compiled = GCondCondenser(graph, 0.05, progress=False, compile=True,
                              **options)
    # an execution option, like the device: cached graphs are shared
    assert compiled._configuration() == eager._configuration()
    a, b = eager.fit(), compiled.fit()
    torch.testing.assert_close(b.x, a.x, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(compiled.adjacency_, eager.adjacency_,
                               rtol=1e-3, atol=1e-4)


def test_gradient_matching_learns(graph):
    cond = GCondXCondenser(graph, 0.05, progress=False, epochs=30,
                           outer_loop=5, inner_loop=1, lr_feat=1e-2)
    cond.fit()
    history = cond.loss_history_
    assert len(history) == 30
    assert sum(history[-5:]) / 5 < sum(history[:5]) / 5
    # per-epoch wall times, within the run's total
    assert len(cond.epoch_seconds_) == 30
    assert min(cond.epoch_seconds_) > 0
    assert sum(cond.epoch_seconds_) <= cond.condensed_.condense_seconds


def test_gradient_distance():
    a = [torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([5., 5.])]
    b = [torch.tensor([[2., 0.], [0., -1.]]), torch.tensor([0., 1.])]
    # 'ours': per output row, 1 - cos; the bias is ignored
    assert float(gradient_distance(a, b, 'ours')) == pytest.approx(2.0)
    assert float(gradient_distance(a, b, 'mse')) == pytest.approx(
        1 + 4 + 25 + 16)
    assert float(gradient_distance(a, a, 'cos')) == pytest.approx(0.0,
                                                                 abs=1e-6)
    with pytest.raises(ValueError, match='Unknown distance'):
        gradient_distance(a, b, 'l1')


def test_allocate_gives_every_class_a_node():
    counts = allocate(3, torch.tensor([100, 50, 1, 1, 0]))
    assert counts.tolist()[:4] == [2, 1, 1, 1] and counts[4] == 0
    assert allocate(10, torch.tensor([1, 1])).tolist() == [5, 5]


def test_tiny_ratio_warns_and_covers_classes(graph):
    with pytest.warns(UserWarning, match='every class'):
        out = condense('random', graph, ratio=0.004)
    assert set(out.y[out.train_mask].tolist()) == {0, 1, 2}
    # the validation budget follows the raised training budget
    with pytest.warns(UserWarning, match='every class'):
        out = condense('random', graph, ratio=1e-4)
    assert set(out.y[out.val_mask].tolist()) == {0, 1, 2}


@pytest.mark.parametrize('ratio', [0, -0.1, 1, 1.5, 'a'])
def test_bad_ratio(graph, ratio):
    with pytest.raises(ValueError, match="'ratio'"):
        RandomCondenser(graph, ratio)


def test_bad_graphs(graph):
    no_masks = Data(x=graph.x, y=graph.y, edge_index=graph.edge_index)
    with pytest.raises(ValueError, match="'train_mask'"):
        RandomCondenser(no_masks, 0.1)
    bad = graph.clone()
    bad.x = bad.x.clone()
    bad.x[3, 1] = float('inf')
    with pytest.raises(ValueError, match='NaN or infinite'):
        GCondCondenser(bad, 0.1)
    empty = Data(x=torch.empty(0, 4), y=torch.empty(0, dtype=torch.long),
                 edge_index=torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match='empty'):
        RandomCondenser(empty, 0.1)
    with pytest.raises(ValueError, match='distance'):
        GCondXCondenser(graph, 0.1, distance='l2')


def test_save_load_roundtrip(graph, tmp_path):
    out = condense('gcond', graph, ratio=0.05)
    path = tmp_path / 'g.pt'
    io.save(out, path)
    back = io.load(path)
    for key in ('x', 'y', 'edge_index', 'edge_weight', 'train_mask',
                'val_mask'):
        assert torch.equal(back[key], out[key])
    assert back.method == 'gcond' and back.ratio == 0.05
    assert back.condense_seconds == out.condense_seconds


def test_load_rejects_corrupt_and_foreign_files(graph, tmp_path):
    out = condense('random', graph, ratio=0.05)
    path = tmp_path / 'g.pt'
    io.save(out, path)
    raw = path.read_bytes()
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(io.CondensedFileError, match='truncated'):
        io.load(truncated)
    foreign = tmp_path / 'foreign.pt'
    torch.save({'weights': torch.ones(3)}, foreign)
    with pytest.raises(io.CondensedFileError, match='not an hcdc-graph'):
        io.load(foreign)
    text = tmp_path / 'text.pt'
    text.write_text('hello')
    with pytest.raises(io.CondensedFileError):
        io.load(text)
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / 'missing.pt')


def test_load_never_executes_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (exec, ("open(%r, 'w').write('pwned')" %
                           str(tmp_path / 'pwned'), ))

    path = tmp_path / 'evil.pt'
    with open(path, 'wb') as f:
        pickle.dump(Evil(), f)
    # a plain pickle is no torch file; one saved by torch asks for exec
    with pytest.raises(io.CondensedFileError) as info:
        io.load(path)
    torch.save(Evil(), tmp_path / 'evil-torch.pt')
    with pytest.raises(io.UnsafeFileError) as unsafe:
        io.load(tmp_path / 'evil-torch.pt')
    assert not (tmp_path / 'pwned').exists()
    for e in (info.value, unsafe.value):
        assert len(str(e).splitlines()) == 1 and 'evil' in str(e)
    assert 'GLOBAL exec' in str(unsafe.value)


RUN = '''
import sys, time, torch
from hcdc_graph import io
from hcdc_graph.condense import CONDENSERS
from hcdc_graph.condense.base import Condenser
from hcdc_graph.datasets import csbm
method, checkpoint, out = sys.argv[1:4]
if checkpoint != '-':  # slow every epoch down, so it can be killed mid-run
    save = Condenser.save_state
    Condenser.save_state = lambda self, s: (save(self, s), time.sleep(0.2))
options = dict(epochs=12, outer_loop=4, inner_loop=2)
if method == 'gcond':
    options.update(cycle=4, structure_epochs=2)
if method == 'hcdc':
    options = dict(epochs=12, num_configs=2, trajectory_steps=1,
                   train_epochs=20, lr=0.3)
condenser = CONDENSERS[method](csbm(num_nodes=300, seed=0), 0.05, seed=3,
                               progress=False, checkpoint=None
                               if checkpoint == '-' else checkpoint,
                               **options)
io.save(condenser.fit(resume=checkpoint != '-'), out)
'''


@pytest.mark.parametrize('method', ['gcond', 'hcdc'])  # GCond-X: GCond's loop
def test_resume_after_kill_9_gives_the_uninterrupted_result(method,
                                                            tmp_path):
    import signal
    import subprocess
    import sys
    import time
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}

    def start(checkpoint, out):
        return subprocess.Popen([sys.executable, '-c', RUN, method,
                                 str(checkpoint), str(out)], env=env)

    assert start('-', tmp_path / 'full.pt').wait(timeout=300) == 0
    checkpoint = tmp_path / 'state.pt'
    job = start(checkpoint, tmp_path / 'never.pt')
    deadline = time.time() + 300
    epoch = -1
    while epoch < 3 and time.time() < deadline and job.poll() is None:
        time.sleep(0.05)
        if checkpoint.exists():
            epoch = torch.load(checkpoint, weights_only=True)['epoch']
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert 3 <= epoch < 11 and not (tmp_path / 'never.pt').exists()
    assert start(checkpoint, tmp_path / 'resumed.pt').wait(timeout=300) == 0
    full, resumed = io.load(tmp_path / 'full.pt'), \
        io.load(tmp_path / 'resumed.pt')
    assert torch.equal(full.x, resumed.x)
    assert torch.equal(full.edge_index, resumed.edge_index)
    assert torch.equal(full.edge_weight, resumed.edge_weight)
    assert not checkpoint.exists()  # removed once the fit finished


def test_checkpoint_of_another_configuration_is_refused(graph, tmp_path):
    path = tmp_path / 'state.pt'
    GCondXCondenser(graph, 0.05, epochs=2, outer_loop=2, progress=False,
                    checkpoint=str(path)).save_state({'epoch': 0})
    other = GCondXCondenser(graph, 0.05, epochs=3, outer_loop=2,
                            progress=False, checkpoint=str(path))
    with pytest.raises(ValueError, match='another configuration'):
        other.fit(resume=True)
    with pytest.raises(ValueError, match="needs the 'checkpoint'"):
        GCondXCondenser(graph, 0.05, progress=False).fit(resume=True)


def test_rank_certificate(graph, tmp_path):
    from hcdc_graph.condense.base import CERTIFY_SEED_OFFSET
    from hcdc_graph.evaluation import Recipe, sample_filter_configs
    condenser = RandomCondenser(graph, 0.1, seed=1, progress=False)
    with pytest.raises(ValueError, match='fit'):
        condenser.certify()
    condenser.fit()
    # as if the condenser had trained on exactly the first draw: the
    # certificate must use other filters
    condenser.configs_ = sample_filter_configs(4, 2, CERTIFY_SEED_OFFSET + 1)
    cert = condenser.certify(n_configs=4, recipe=Recipe(hidden=8,
                                                        epochs=20))
    assert cert['config_seed'] != CERTIFY_SEED_OFFSET + 1
    assert -1 <= cert['low'] <= cert['spearman'] <= cert['high'] <= 1
    assert cert['null_sd'] == pytest.approx(1 / 3 ** 0.5)
    assert 'null sd' in cert['note'] and cert['seconds'] > 0
    path = tmp_path / 'certified.pt'
    io.save(condenser.condensed_, path)
    back = io.load(path)
    assert back.certificate_spearman == cert['spearman']
    assert back.certificate_configs == 4


def test_condense_transform_and_default_ratio(graph):
    import torch_geometric.transforms as T

    from hcdc_graph.condense.base import DEFAULT_RATIO
    from hcdc_graph.transforms import Condense
    assert RandomCondenser(graph).ratio == DEFAULT_RATIO
    transform = T.Compose([T.NormalizeFeatures(),
                           Condense('random', ratio=0.1, seed=2)])
    out = transform(graph)
    assert out.method == 'random' and out.ratio == 0.1 and out.seed == 2
    assert out.num_nodes < graph.num_nodes and bool(out.val_mask.any())
    assert graph.num_nodes == 300  # the input is left alone
    assert repr(Condense('gcond', ratio=0.05, seed=1)) == \
        "Condense('gcond', ratio=0.05, seed=1)"
    with pytest.raises(ValueError, match='Unknown method'):
        Condense('nope')
