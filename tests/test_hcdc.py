import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from hcdc_graph import HCDCCondenser, io
from hcdc_graph.condense import RandomCondenser
from hcdc_graph.condense.base import sampled_subgraph, training_part
from hcdc_graph.condense.hcdc import val_edges
from hcdc_graph.datasets import csbm
from hcdc_graph.evaluation import (Recipe, hypergradient_alignment,
                                   rank_correlation, sample_filter_configs)
from hcdc_graph.hypergrad import Neumann, hypergradient
from hcdc_graph.hypergrad.calibrate import train_params
from hcdc_graph.nn import PolyGNN
from hcdc_graph.sparse import with_csr_adjacency
from hcdc_graph.table2 import start_agreement_pairs
from hcdc_graph.train import graph_losses


@pytest.fixture(scope='module')
def graph():
    # Two classes at homophily ~ (1 - 1/d) / 2: low-pass filters lose the
    # class signal, high-pass ones keep it, so the filter ranking matters.
    data = csbm(num_nodes=1000, num_classes=2, avg_degree=8, homophily=0.45,
                feature_dim=16, feature_noise=1.5, seed=0, train_ratio=0.2,
                val_ratio=0.2)
    data.name = 'csbm-test'
    return data


def test_hcdc_ranks_filters_better_than_random(graph, tmp_path):
    recipe = Recipe(hidden=16, epochs=100, dropout=0.0, seeds=(0, ))
    configs = sample_filter_configs(20, K=2, seed=123)
    rho_random, rho_hcdc = [], []
    for seed in (0, 1, 2):  # one seed is noisy: compare the means
        random = RandomCondenser(graph, 0.02, seed=seed, progress=False).fit()
        # 10 Neumann steps instead of 20 and 30 epochs instead of 60, for
        # the suite's time: mean Spearman 0.66 (20 steps, 60 epochs), 0.67
        # (10, 60) and 0.62 (10, 30) against Random's 0.49; 1 - cos went
        # down to 0.28, 0.64 and 0.51 of its start on seeds 0-2
        hcdc = HCDCCondenser(graph, 0.02, seed=seed, progress=False,
                             train_condenser='random', hidden=16,
                             train_epochs=100, neumann_steps=10, epochs=30)
        condensed = hcdc.fit()
        # the alignment objective went down
        assert hcdc.loss_history_[-1] < 0.7 * hcdc.loss_history_[0]
        # on this heterophilous graph S_val needs its edges: the wired
        # start agrees better with the original (measured 0.71 against
        # 0.37 for the nearly isolated one on seed 2)
        assert hcdc.edge_init_ == 0.1, hcdc.start_agreement_
        rho_random.append(rank_correlation(graph, random, configs, recipe,
                                           cache=str(tmp_path)).spearman)
        rho_hcdc.append(rank_correlation(graph, condensed, configs, recipe,
                                         cache=str(tmp_path)).spearman)
    # S_train is the train condenser's output, unchanged, and S_val nodes
    # only receive edges
    s_train = RandomCondenser(graph, 0.02, val_ratio=0.0, seed=2,
                              progress=False).fit()
    n_t = s_train.num_nodes
    assert torch.equal(condensed.x[:n_t], s_train.x)
    assert condensed.train_mask[:n_t].all() and condensed.val_mask[n_t:].all()
    into_train = condensed.edge_index[1] < n_t
    assert (condensed.edge_index[0, into_train] < n_t).all()
    assert int(into_train.sum()) == s_train.edge_index.size(1)
    assert sum(rho_hcdc) / 3 > sum(rho_random) / 3 + 0.1, (rho_hcdc,
                                                          rho_random)


def test_hcdc_bad_options(graph):
    with pytest.raises(ValueError, match='train_condenser'):
        HCDCCondenser(graph, 0.02, train_condenser='nope')
    with pytest.raises(ValueError, match="'theta'"):
        HCDCCondenser(graph, 0.02, theta='both')
    with pytest.raises(ValueError, match='points_per_step'):
        HCDCCondenser(graph, 0.02, points_per_step=0)
    with pytest.raises(ValueError, match='val_degree'):
        HCDCCondenser(graph, 0.02, val_degree=0)
    with pytest.raises(ValueError, match='val_ratio'):
        HCDCCondenser(graph, 0.02, val_ratio=0.0)
    with pytest.raises(ValueError, match="'original_nodes'.*1000 nodes"):
        HCDCCondenser(graph, 0.02, original_nodes=1001)
    with pytest.raises(ValueError, match="'rank_target'"):
        HCDCCondenser(graph, 0.02, rank_target='test')
    with pytest.raises(ValueError, match="'rank_weight'"):
        HCDCCondenser(graph, 0.02, rank_weight=-1.0)
    with pytest.raises(ValueError, match='two or more search-space'):
        HCDCCondenser(graph, 0.02, rank_weight=1.0, num_configs=1,
                      trajectory_steps=0)
    with pytest.raises(ValueError, match="'rank_points'"):
        HCDCCondenser(graph, 0.02, rank_points=-1)
    with pytest.raises(ValueError, match="'rank_points'"):
        HCDCCondenser(graph, 0.02, rank_points=2.5)
    with pytest.raises(ValueError, match="'val_structure'"):
        HCDCCondenser(graph, 0.02, val_structure='learned')
    for bad in (0.0, 1.0, (), (0.1, 1.0), 'wired'):
        with pytest.raises(ValueError, match="'edge_init'"):
            HCDCCondenser(graph, 0.02, edge_init=bad)


def test_val_edges_dense_then_sampled():
    gen = torch.Generator().manual_seed(0)
    src, dst = val_edges(3, 2, degree=3, generator=gen)
    assert sorted(zip(src.tolist(), dst.tolist())) == [
        (s, d) for s in range(3) for d in range(2)]
    src, dst = val_edges(50, 4, degree=6, generator=gen)
    assert src.numel() == dst.numel() == 24
    for d in range(4):
        sources = src[dst == d]
        # distinct sources, all in range, not the same set for every target
        assert sources.unique().numel() == 6 and int(sources.max()) < 50
    assert not torch.equal(src[dst == 0].sort()[0], src[dst == 1].sort()[0])


def test_hcdc_reuses_a_given_train_graph(graph):
    given = RandomCondenser(graph, 0.02, seed=3, progress=False).fit()
    hcdc = HCDCCondenser(graph, 0.02, seed=0, progress=False,
                         train_graph=given, hidden=8, num_configs=2,
                         trajectory_steps=0, epochs=2, train_epochs=10,
                         val_degree=2)
    out = hcdc.fit()
    n_t = int(given.train_mask.sum())
    n_v = int(out.val_mask.sum())
    assert n_t > 2  # so every S_val node gets 2 sampled S_train sources
    into_val = out.edge_index[1] >= n_t
    assert int(into_val.sum()) == 2 * n_v
    assert (out.edge_index[0, into_val] < n_t).all()
    # S_train is the given graph's training part, its edges kept
    assert torch.equal(out.x[:n_t], given.x[given.train_mask])
    assert torch.equal(out.y[:n_t], given.y[given.train_mask])
    assert out.train_mask.sum() == n_t and out.val_mask[n_t:].all()
    inside = (out.edge_index < n_t).all(dim=0)
    both_train = given.train_mask[given.edge_index].all(dim=0)
    assert int(inside.sum()) == int(both_train.sum())
    # so S_train's outputs (hence its training loss, which the condenser
    # computes on S_train alone) do not depend on S_val, for any filter
    model = PolyGNN(graph.num_features, 8, 2, K=2, dropout=0.0)
    coeffs = torch.tensor([0.3, -1.2, 0.8])
    part = training_part(out)
    assert torch.allclose(
        model(out.x, out.edge_index, out.edge_weight, coeffs)[:n_t],
        model(part.x, part.edge_index, part.edge_weight, coeffs), atol=1e-6)
    narrow = Data(x=torch.randn(5, 3), y=torch.zeros(5, dtype=torch.long),
                  edge_index=torch.empty(2, 0, dtype=torch.long),
                  train_mask=torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match='features'):
        HCDCCondenser(graph, 0.02, train_graph=narrow)


def test_real_val_structure_keeps_real_nodes_and_their_edges(graph):
    given = RandomCondenser(graph, 0.02, seed=3, progress=False).fit()
    out = HCDCCondenser(graph, 0.02, seed=0, progress=False,
                        train_graph=given, hidden=8, num_configs=2,
                        trajectory_steps=0, epochs=1, train_epochs=10,
                        val_degree=2, lr_features=0.0,
                        val_structure='real').fit()
    n_t = int(given.train_mask.sum())
    x_v, y_v = out.x[n_t:], out.y[n_t:]
    # every S_val node is a distinct real validation node (features kept:
    # no feature learning here), its label its own
    match = (x_v[:, None, :] == graph.x[None, :, :]).all(dim=-1)
    assert (match.sum(dim=1) >= 1).all()
    real = match.float().argmax(dim=1)
    assert real.unique().numel() == real.numel()
    assert graph.val_mask[real].all() and torch.equal(graph.y[real], y_v)
    # the edges among them are the original graph's, fixed at weight 1
    among = (out.edge_index >= n_t).all(dim=0)
    assert (out.edge_weight[among] == 1).all()
    pairs = {(int(real[a - n_t]), int(real[b - n_t]))
             for a, b in out.edge_index[:, among].t().tolist()}
    chosen = set(real.tolist())
    original = {(a, b) for a, b in graph.edge_index.t().tolist()
                if a in chosen and b in chosen}
    assert pairs == original and len(original) > 0


def test_train_graph_val_structure_starts_from_its_own_s_val(graph):
    given = RandomCondenser(graph, 0.02, seed=3, progress=False).fit()
    train, val = given.train_mask, given.val_mask
    n_t = int(train.sum())
    out = HCDCCondenser(graph, 0.02, seed=0, progress=False,
                        train_graph=given, hidden=8, num_configs=2,
                        trajectory_steps=0, epochs=1, train_epochs=10,
                        val_degree=2, lr_features=0.0,
                        val_structure='train_graph').fit()
    # S_val: the given graph's validation nodes, in order, labels kept
    assert torch.equal(out.x[n_t:], given.x[val].float())
    assert torch.equal(out.y[n_t:], given.y[val])
    # every given edge into a validation node is there with its weight
    # (given's numbering: training nodes first, then validation nodes)
    old_id = torch.cat([torch.where(train)[0], torch.where(val)[0]])
    weights = {}
    for (a, b), w in zip(out.edge_index.t().tolist(),
                         out.edge_weight.tolist()):
        weights.setdefault((int(old_id[a]), int(old_id[b])), []).append(w)
    into_val = [(a, b, w) for (a, b), w in zip(
        given.edge_index.t().tolist(), given.edge_weight.tolist()) if val[b]]
    assert len(into_val) > 0
    for a, b, w in into_val:
        assert any(abs(v - w) < 1e-6 for v in weights[(a, b)])
    # and none from S_val into S_train
    assert not ((out.edge_index[0] >= n_t) & (out.edge_index[1] < n_t)).any()
    with pytest.raises(ValueError, match="validation nodes of 'train_graph'"):
        HCDCCondenser(graph, 0.02, val_structure='train_graph')
    with pytest.raises(ValueError, match="leave 'val_ratio' unset"):
        HCDCCondenser(graph, 0.02, val_ratio=0.5, train_graph=given,
                      val_structure='train_graph')


def test_edge_init_sets_the_starting_s_val_edge_weights(graph, tmp_path):
    given = RandomCondenser(graph, 0.02, seed=3, progress=False).fit()
    options = dict(seed=0, progress=False, train_graph=given, hidden=8,
                   num_configs=1, trajectory_steps=0, epochs=1,
                   train_epochs=10, val_degree=2, lr_edges=0.0)
    n_t = int(given.train_mask.sum())

    def start_weights(out):
        return out.edge_weight[out.edge_index[1] >= n_t]

    for init in (0.1, 0.0025):
        out = HCDCCondenser(graph, 0.02, edge_init=init, **options).fit()
        assert torch.allclose(start_weights(out), torch.full_like(
            start_weights(out), init))
    # one search-space point cannot be ranked
    with pytest.raises(ValueError, match="two or more search-space"):
        HCDCCondenser(graph, 0.02, edge_init=(0.1, 0.0025), **options)
    # Several starts: the one whose S_val validation losses over the
    # search-space points correlate best with the original graph's is
    # used, and the result is that of the chosen start alone.
    options.update(num_configs=3, trajectory_steps=1)
    chooser = HCDCCondenser(graph, 0.02, edge_init=[0.3, 0.1, 0.0025],
                            **options)
    chosen = chooser.fit()
    assert chooser.edge_init == [0.3, 0.1, 0.0025]  # kept as given
    agreement = chooser.start_agreement_
    assert set(agreement) == {0.3, 0.1, 0.0025}
    assert all(-1 <= a <= 1 for a in agreement.values())
    assert len(set(agreement.values())) > 1  # the starts are told apart
    assert chooser.edge_init_ == max(agreement, key=agreement.get)
    assert chosen.edge_init == chooser.edge_init_  # kept with the graph
    # the saved graph keeps every start's agreement, for the Table 2 cell
    io.save(chosen, tmp_path / 'chosen.pt')
    assert dict(start_agreement_pairs(io.load(tmp_path / 'chosen.pt'))) == \
        pytest.approx(agreement)
    alone = HCDCCondenser(graph, 0.02, edge_init=chooser.edge_init_,
                          **options).fit()
    assert torch.equal(start_weights(chosen), start_weights(alone))
    assert torch.equal(chosen.x, alone.x)


def test_sampled_original_hypergradient_estimates_the_full_one():
    data = csbm(num_nodes=2000, num_classes=2, avg_degree=100,
                homophily=0.45, feature_dim=16, feature_noise=1.5, seed=0,
                train_ratio=0.2, val_ratio=0.2)
    lam = torch.tensor([0.3, -0.5, 0.4])

    def losses(graph):
        model = PolyGNN(16, 16, 2, K=2, dropout=0.0, cached=True)
        return graph_losses(model, with_csr_adjacency(graph))

    torch.manual_seed(0)
    params = train_params(losses(data)[0],
                          list(PolyGNN(16, 16, 2, K=2).parameters()),
                          (lam, ), 100)

    def hypergradient_on(graph):
        g, = hypergradient(*losses(graph), params, [lam], Neumann(20, 0.01))
        return g

    full = hypergradient_on(data)
    # sampling every node is the whole graph
    everything = sampled_subgraph(data, 2000, torch.Generator())
    assert torch.allclose(hypergradient_on(everything), full, atol=1e-6)
    # half the nodes of a dense graph: the direction is kept (0.985-0.996
    # measured over these seeds), not reproduced exactly
    cosines = [float(F.cosine_similarity(
        hypergradient_on(sampled_subgraph(
            data, 1000, torch.Generator().manual_seed(s))), full, dim=0))
        for s in range(3)]
    assert min(cosines) > 0.95 and max(cosines) < 0.9999, cosines


def test_hcdc_on_sampled_original_graph(graph):
    options = dict(train_condenser='random', hidden=8, num_configs=2,
                   trajectory_steps=1, epochs=2, train_epochs=20,
                   neumann_steps=3, progress=False)
    first = HCDCCondenser(graph, 0.02, original_nodes=500, **options)
    out = first.fit()
    again = HCDCCondenser(graph, 0.02, original_nodes=500, **options).fit()
    assert torch.equal(out.x, again.x)
    assert torch.equal(out.edge_weight, again.edge_weight)
    whole = HCDCCondenser(graph, 0.02, **options).fit()
    # the same S_train and starting S_val, other targets: other S_val
    assert torch.equal(out.x[out.train_mask], whole.x[whole.train_mask])
    assert not torch.equal(out.x[out.val_mask], whole.x[whole.val_mask])
    assert len(first.loss_history_) == 2


def test_hypergradient_alignment_measures_the_hcdc_objective(graph):
    recipe = Recipe(hidden=16, seeds=(0, ))
    options = dict(seed=0, progress=False, train_condenser='random',
                   hidden=16, train_epochs=100, num_configs=2, epochs=10)
    # learning rates 0: S_val stays where it starts, and the independent
    # recomputation must equal HCDC's own objective there
    frozen = HCDCCondenser(graph, 0.02, lr_features=0.0, lr_edges=0.0,
                           **options)
    start = hypergradient_alignment(graph, frozen.fit(), frozen.configs_,
                                    recipe, train_epochs=100)
    assert start.shape == (len(frozen.configs_), )
    assert float(1 - start.mean()) == pytest.approx(
        frozen.loss_history_[0], abs=1e-3)
    hcdc = HCDCCondenser(graph, 0.02, **options)
    condensed = hcdc.fit()
    assert torch.equal(hcdc.configs_, frozen.configs_)
    learned = hypergradient_alignment(graph, condensed, hcdc.configs_,
                                      recipe, train_epochs=100)
    assert float(learned.mean()) > float(start.mean()) + 0.2
    # S_train without S_val: no validation nodes to differentiate
    with pytest.raises(ValueError, match='val_mask'):
        hypergradient_alignment(graph, training_part(condensed),
                                hcdc.configs_, recipe)


@pytest.mark.parametrize('rank_target', ['original', 'transfer'])
def test_rank_weight_orders_synthetic_validation_losses_like_the_original(
        graph, rank_target):
    options = dict(seed=0, progress=False, train_condenser='random',
                   hidden=16, train_epochs=100, num_configs=4,
                   trajectory_steps=1, epochs=15)
    # configs_ are fixed before the epochs: a few suffice for the reference
    plain = HCDCCondenser(graph, 0.02, **{**options, 'epochs': 3})
    plain.fit()
    assert plain.rank_history_ == [0.0] * 3
    ranked = HCDCCondenser(graph, 0.02, rank_weight=1.0,
                           rank_target=rank_target, **options)
    ranked.fit()
    assert torch.equal(ranked.configs_, plain.configs_)
    # the ranking term (1 - Pearson to the target's ranks) went down
    assert ranked.rank_history_[-1] < 0.5 * ranked.rank_history_[0], \
        ranked.rank_history_


def test_rank_points_extend_only_the_ranking_term(graph):
    options = dict(seed=0, progress=False, train_condenser='random',
                   hidden=16, train_epochs=100, num_configs=4,
                   trajectory_steps=1, epochs=15, rank_weight=1.0,
                   rank_target='transfer')
    # configs_ are fixed before the epochs: one is enough for the reference
    base = HCDCCondenser(graph, 0.02, **{**options, 'epochs': 1})
    base.fit()
    assert torch.equal(base.rank_configs_, base.configs_)
    extended = HCDCCondenser(graph, 0.02, rank_points=12, **options)
    extended.fit()
    # the alignment's search space is unchanged; the ranking term orders
    # its 8 points and 12 more filters, none of them a search-space point
    assert torch.equal(extended.configs_, base.configs_)
    assert extended.rank_configs_.shape == (20, 3)
    assert torch.equal(extended.rank_configs_[:8], base.configs_)
    extra = extended.rank_configs_[8:]
    assert not (extra.unsqueeze(1) == base.configs_).all(-1).any()
    # 20 filters are harder to order than 8: measured 0.34 -> 0.22
    assert extended.rank_history_[-1] < 0.8 * extended.rank_history_[0], \
        extended.rank_history_
    # without the ranking term there is nothing to extend
    off = HCDCCondenser(graph, 0.02, **{**options, 'rank_weight': 0.0,
                                        'epochs': 1}, rank_points=12)
    off.fit()
    assert off.rank_configs_.shape == (0, 3)
