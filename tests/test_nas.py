"""The GraphNAS macro space, its layer, the controller and the search."""
import json

import pytest
import torch

from hcdc_graph.cli import main
from hcdc_graph.datasets import csbm
from hcdc_graph.nas import (Architecture, ChildRecipe, ReinforceController,
                            retrain, search)
from hcdc_graph.nas.space import DECISIONS
from hcdc_graph.nn import GraphNASConv
from hcdc_graph.nn.graphnas_conv import AGGREGATORS, ATTENTIONS

FAST = ChildRecipe(epochs=5)


def tiny_graph():
    torch.manual_seed(0)
    src = torch.arange(6)
    ei = torch.stack([src, (src + 1) % 6])
    return torch.randn(6, 5), torch.cat([ei, ei.flip(0)], 1)


@pytest.mark.parametrize('aggr', AGGREGATORS)
@pytest.mark.parametrize('att', ATTENTIONS)
def test_every_attention_and_aggregator_runs_both_ways(att, aggr):
    x, ei = tiny_graph()
    conv = GraphNASConv(5, 3, heads=2, att_type=att, aggr=aggr, dropout=0.1)
    out = conv(x, ei)
    assert out.shape == (6, 6) and torch.isfinite(out).all()
    out.square().sum().backward()
    assert all(p.grad is not None for p in (conv.lin.weight, ))
    # edge weights go into the messages (GATConv would ignore them)
    conv.eval()
    weights = torch.rand(ei.size(1)) + 0.1
    assert not torch.allclose(conv(x, ei), conv(x, ei, weights))
    averaged = GraphNASConv(5, 3, heads=2, att_type=att, aggr=aggr,
                            concat=False)
    assert averaged(x, ei).shape == (6, 3)


def test_architecture_round_trip_and_bad_input():
    gen = torch.Generator().manual_seed(0)
    arch = Architecture.sample(gen)
    assert Architecture.from_dict(json.loads(json.dumps(arch.to_dict()))) \
        == arch
    model = arch.to_model(5, 3, max_width=8)
    assert model.convs[0].heads * model.convs[0].out_channels <= \
        max(8, arch.layers[0].hidden)
    bad = arch.to_dict()
    bad['layers'][0]['heads'] = 3
    with pytest.raises(ValueError, match='heads'):
        Architecture.from_dict(bad)
    with pytest.raises(ValueError, match='att_type'):
        GraphNASConv(5, 3, att_type='nope')


def test_controller_log_probabilities_and_update():
    torch.manual_seed(0)
    controller = ReinforceController()
    gen = torch.Generator().manual_seed(1)
    indices, log_prob, entropy = controller.sample(gen)
    assert len(indices) == 2 * len(DECISIONS)
    assert all(0 <= i < n for i, n in zip(indices, controller.sizes))
    # the summed log-probability is that of each choice under the policy
    h = c = torch.zeros(1, 100)
    x = torch.zeros(1, 100)
    manual = 0.0
    for i, (decoder, choice) in enumerate(zip(controller.decoders, indices)):
        h, c = controller.cell(x, (h, c))
        logits = 2.5 * torch.tanh(decoder(h) / 5)
        manual += float(torch.log_softmax(logits, -1)[0, choice])
        x = controller.embeddings[i](torch.tensor([choice]))
    assert float(log_prob) == pytest.approx(manual, abs=1e-5)
    assert float(entropy) > 0

    # a toy reward for the first decision's choice 0: its probability grows
    def first_choice_probability():
        h, _ = controller.cell(torch.zeros(1, 100))
        logits = 2.5 * torch.tanh(controller.decoders[0](h) / 5)
        return float(torch.softmax(logits, -1)[0, 0])

    before = first_choice_probability()
    controller.optimizer.param_groups[0]['lr'] = 0.01
    for _ in range(60):
        indices, log_prob, entropy = controller.sample(gen)
        controller.update(log_prob, entropy, float(indices[0] == 0))
    assert first_choice_probability() > before + 0.1


@pytest.mark.parametrize('strategy', ['random', 'reinforce'])
def test_search_resumes_from_its_history(strategy, tmp_path):
    data = csbm(num_nodes=120, seed=0)
    full = search(data, strategy, archs=4, seed=3, recipe=FAST,
                  progress=False)
    path = tmp_path / 'history.jsonl'
    search(data, strategy, archs=2, seed=3, recipe=FAST,
           history_file=str(path), progress=False)
    resumed = search(data, strategy, archs=4, seed=3, recipe=FAST,
                     history_file=str(path), progress=False)
    assert [e['arch'] for e in resumed['history']] == \
        [e['arch'] for e in full['history']]
    assert len(path.read_text().splitlines()) == 4
    assert resumed['best']['val_acc'] == max(e['val_acc'] for e in
                                             resumed['history'])
    with pytest.raises(ValueError, match='another search'):
        search(data, strategy, archs=4, seed=4, recipe=FAST,
               history_file=str(path), progress=False)
    result = retrain(Architecture.from_dict(resumed['best']['arch']), data,
                     seeds=(0, ), recipe=FAST)
    assert 0 <= result['test_acc'] <= 1


def test_nas_command(tmp_path, capsys):
    graph = tmp_path / 'g.pt'
    assert main(['condense', '--dataset', 'csbm', '--num-nodes', '150',
                 '--method', 'random', '--ratio', '0.1', '--out', str(graph),
                 '--quiet']) == 0
    base = ['nas', '--dataset', 'csbm', '--num-nodes', '150', '--epochs',
            '3', '--quiet', '--retrain-seeds', '0']
    capsys.readouterr()
    assert main(base + ['--condensed', str(graph), '--archs', '3',
                        '--strategy', 'random', '--trace', '--json',
                        '-']) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out['history']) == 3 and 'test_acc' in out['retrained']
    # the trace ends at the best architecture, retrained with seed 0
    assert len(out['trace']) == 3
    last = out['trace'][-1]
    assert out['history'][last['incumbent']] == out['best']
    assert last['seconds'] == out['history'][-1]['elapsed']
    assert 0 <= last['incumbent_test_acc'] <= 1
    for argv, words in ((['--strategy', 'evolution', '--archs', '2'],
                         'invalid choice'),
                        ([], 'give a budget'),
                        (['--archs', '2', '--condensed',
                          str(tmp_path / 'missing.pt')], 'No such file')):
        capsys.readouterr()
        assert main(base + argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


def test_nas_bench_graph_hash_table_and_restricted_reading(tmp_path,
                                                           monkeypatch):
    import importlib.util
    import pickle
    if importlib.util.find_spec('nas_bench_graph') is None:
        pytest.skip('nas-bench-graph is not installed')
    from hcdc_graph.io import UnsafeFileError
    from hcdc_graph.nas import bench
    table = bench.load_bench('cora')
    assert len(table) == 26206
    # GCN's skip-skip-gcn-gcn, one of the benchmark's anchors
    arch = bench.BenchArch((0, 1, 2, 3), ('skip', 'skip', 'gcn', 'gcn'))
    row = table[arch.bench_hash()]
    assert 0.7 < row['valid_perf'] < 0.9 and row['para'] == \
        pytest.approx(0.5025, abs=1e-3)
    # our networks have the table's parameter count less a constant 2,048
    # (width 256, Cora's 1433 features and 7 classes), which pins down the
    # structure: no pre-processing layer, leaves concatenated, GAT's heads
    for sampled in [arch] + bench.sample_bench(table, 40, seed=3):
        net = bench.BenchNet(sampled, 1433, 7)
        assert round(table[sampled.bench_hash()]['para'] * 1e6) - sum(
            p.numel() for p in net.parameters()) == 2048, sampled
    assert bench.BenchArch.from_hash(arch.bench_hash()) == arch
    assert all(bench.BenchArch.from_hash(k).bench_hash() == k
               for k in list(table)[:500])
    with pytest.raises(ValueError, match='canonical'):
        bench.BenchArch((0, 0, 2, 0), ('gcn', ) * 4)

    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'ran')!r}, 'w')", ))
    hostile = tmp_path / 'cora.bench'
    hostile.write_bytes(pickle.dumps(Evil()))
    monkeypatch.setattr(bench, 'bench_path', lambda name: str(hostile))
    with pytest.raises(UnsafeFileError):
        bench.load_bench('cora')
    assert not (tmp_path / 'ran').exists()


def test_nas_bench_command_on_a_small_graph(tmp_path, capsys):
    import importlib.util
    if importlib.util.find_spec('nas_bench_graph') is None:
        pytest.skip('nas-bench-graph is not installed')
    graph = tmp_path / 'g.pt'
    assert main(['condense', '--dataset', 'csbm', '--num-nodes', '150',
                 '--method', 'random', '--ratio', '0.1', '--out', str(graph),
                 '--quiet']) == 0
    capsys.readouterr()
    assert main(['nas-bench', '--dataset', 'csbm', '--bench', 'cora',
                 '--condensed', str(graph), '--archs', '3', '--epochs', '3',
                 '--quiet', '--json', '-']) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out['table']) == 3 and -1 <= out['spearman'] <= 1
    assert main(['nas-bench', '--dataset', 'csbm', '--bench', 'nope',
                 '--archs', '3']) == 2
    assert 'No NAS-Bench-Graph table' in capsys.readouterr().err


def test_stratified_calibration_sample_spans_the_table():
    from hcdc_graph.nas import bench
    # a fake table: 60 architectures with validation accuracy 0.30-0.89
    keys = [bench.BenchArch((0, 1, 2, 3), (a, b, 'gcn', 'gat')).bench_hash()
            for a in bench.OPS for b in bench.OPS][:60]
    table = {k: {'valid_perf': 0.3 + 0.01 * i} for i, k in enumerate(keys)}
    edges = (0.0, 0.5, 0.7, 1.0)
    picked = bench.sample_bench_stratified(table, 3, edges, seed=0)
    values = [table[a.bench_hash()]['valid_perf'] for a in picked]
    assert len({a.bench_hash() for a in picked}) == 9
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        assert all(low <= v < high for v in values[3 * i:3 * i + 3])
    assert picked == bench.sample_bench_stratified(table, 3, edges, seed=0)
    assert picked != bench.sample_bench_stratified(table, 3, edges, seed=1)
    with pytest.raises(ValueError, match=r'valid_perf in \[0.0, 0.2\)'):
        bench.sample_bench_stratified(table, 1, (0.0, 0.2, 1.0))


@pytest.mark.parametrize('name', ['gat', 'gin', 'sage'])
def test_bench_ops_use_edge_weights_and_are_pyg_without(name):
    from torch_geometric import nn as pyg
    from hcdc_graph.nas import bench
    x, ei = tiny_graph()
    stock = {'gat': lambda: pyg.GATConv(5, 2, heads=2),
             'gin': lambda: pyg.GINConv(torch.nn.Linear(5, 4)),
             'sage': lambda: pyg.SAGEConv(5, 4)}[name]
    torch.manual_seed(0)
    ours = bench._op(name, 5, 4)
    torch.manual_seed(0)
    assert torch.equal(ours(x, ei), stock()(x, ei))
    ones = torch.ones(ei.size(1))
    assert torch.allclose(ours(x, ei, ones), ours(x, ei), atol=1e-6)
    # PyG's layer would ignore the weights: a GCond graph stays weighted
    assert not torch.allclose(ours(x, ei, torch.rand(ei.size(1))),
                              ours(x, ei), atol=1e-4)


def test_bench_net_reads_edge_weights():
    from hcdc_graph.nas import bench
    x, ei = tiny_graph()
    net = bench.BenchNet(bench.BenchArch((0, 1, 2, 3),
                                         ('gat', 'gin', 'sage', 'gcn')),
                         5, 3, dim=8).eval()
    ones = torch.ones(ei.size(1))
    assert torch.equal(net(x, ei, ones), net(x, ei))
    assert not torch.allclose(net(x, ei, 0.1 + torch.rand(ei.size(1))),
                              net(x, ei))
