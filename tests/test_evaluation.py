import json
import os

import numpy as np
import pytest
import torch
from scipy import stats

from hcdc_graph.condense import RandomCondenser
from hcdc_graph.datasets import csbm
from hcdc_graph.ranking import (null_sd, paired_bootstrap, partial_spearman,
                                rank_by_accuracy, recall_at_k, regret,
                                spearman_top_fraction)
from hcdc_graph import evaluation
from hcdc_graph.evaluation import (Recipe, correlation_beyond_gain,
                                   evaluate_configs, floor, floor_proxies,
                                   ranking_metrics,
                                   original_results, rank_correlation,
                                   sample_filter_configs,
                                   selected_performance, transfer_results,
                                   frequency_response_correlation)

FAST = Recipe(hidden=8, epochs=30, dropout=0.0, seeds=(0, ))


def test_sample_filter_configs():
    configs = sample_filter_configs(80, K=2, seed=0)
    assert configs.shape == (80, 3)
    assert torch.equal(configs, sample_filter_configs(80, K=2, seed=0))
    assert not torch.equal(configs, sample_filter_configs(80, K=2, seed=1))
    mu = torch.linspace(0, 2, 201)
    response = configs @ mu.pow(torch.arange(3).view(-1, 1))
    gain = response.abs().max(1).values
    assert torch.allclose(gain, torch.ones(80), atol=1e-3)
    low = response[:, 0].abs() > response[:, -1].abs()
    assert 10 < int(low.sum()) < 70  # both low- and high-pass filters
    with pytest.raises(ValueError):
        sample_filter_configs(0)


def test_ranks_break_accuracy_ties_by_loss():
    acc = np.array([0.5, 0.5, 0.9])
    loss = np.array([1.0, 0.2, 0.1])
    assert rank_by_accuracy(acc, loss).tolist() == [0, 1, 2]


def test_frequency_response_correlation():
    configs = sample_filter_configs(20, K=2, seed=3)
    gain = configs[:, 0].abs().numpy()
    # 0 = smallest |h(0)|; filters whose peak gain is at 0 tie at 1
    by_gain = stats.rankdata(gain) - 1
    agree = frequency_response_correlation(by_gain, configs)
    assert agree['spearman'] == pytest.approx(1.0)
    assert agree['spearman_top_half'] == pytest.approx(1.0)
    against = frequency_response_correlation(len(gain) - 1 - by_gain,
                                             configs)
    assert against['spearman'] == pytest.approx(-1.0)
    # at mu = 0, λ_1 and λ_2 play no part; at mu = 2 they do
    shuffled = configs.clone()
    shuffled[:, 1:] = shuffled[torch.randperm(20), 1:]
    assert frequency_response_correlation(by_gain, shuffled) == agree
    at_2 = (configs.double() @ torch.tensor([1.0, 2.0, 4.0],
                                            dtype=torch.float64)).abs()
    high = stats.rankdata(at_2.numpy())
    assert frequency_response_correlation(high, configs, mu=2.0)[
        'spearman'] == pytest.approx(1.0)
    assert frequency_response_correlation(high, configs)['spearman'] < 0.9
    with pytest.raises(ValueError, match='one row per score'):
        frequency_response_correlation(by_gain[:5], configs)


def test_partial_spearman_removes_what_both_rankings_owe_to_the_control():
    rng = np.random.default_rng(0)
    control = rng.normal(size=200)
    shared = rng.normal(size=200)  # what x and y share beyond the control
    x = control + 0.5 * shared + 0.3 * rng.normal(size=200)
    y = control + 0.5 * shared + 0.3 * rng.normal(size=200)
    rho = partial_spearman(x, y, control)
    # residuals of the ranks regressed on the control's ranks, computed
    # independently of the closed form
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, control))
    design = np.stack([np.ones(200), rz], axis=1)
    res = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0]
           for r in (rx, ry)]
    assert rho == pytest.approx(np.corrcoef(*res)[0, 1])
    # the shared part survives, the control's share is removed
    assert 0.5 < rho < stats.spearmanr(x, y)[0] - 0.1
    # nothing shared beyond the control: high Spearman, partial near 0
    x0 = control + 0.3 * rng.normal(size=200)
    y0 = control + 0.3 * rng.normal(size=200)
    assert stats.spearmanr(x0, y0)[0] > 0.8
    assert abs(partial_spearman(x0, y0, control)) < 0.2
    assert np.isnan(partial_spearman(x, 2 * control, control))
    with pytest.raises(ValueError, match='same length'):
        partial_spearman(x[:10], y, control)


def test_correlation_beyond_gain_is_blind_to_the_gain_ranking():
    configs = sample_filter_configs(30, K=2, seed=4)
    by_gain = stats.rankdata(configs[:, 0].abs().numpy())
    other = stats.rankdata(configs[:, 1].numpy())
    assert correlation_beyond_gain(other, other, configs) == \
        pytest.approx(1.0)
    assert np.isnan(correlation_beyond_gain(other, by_gain, configs))
    with pytest.raises(ValueError, match='one row per rank'):
        correlation_beyond_gain(other[:5], other, configs)


def test_identical_graph_ranks_perfectly_and_ground_truth_is_cached(
        tmp_path):
    data = csbm(num_nodes=200, num_classes=2, avg_degree=6, homophily=0.45,
                feature_dim=8, seed=0)
    configs = sample_filter_configs(6, K=2, seed=0)
    result = rank_correlation(data, data, configs, FAST, cache=str(tmp_path))
    assert result.spearman == pytest.approx(1.0)
    assert result.kendall == pytest.approx(1.0)
    assert result.original_spread > 0.05  # the filters differ on this graph
    assert len(result.table) == 6
    files = os.listdir(tmp_path)
    assert len(files) == 1
    # a cached ground truth is read back, not recomputed: tamper with it
    path = tmp_path / files[0]
    obj = json.loads(path.read_text())
    keys = list(obj)
    obj[keys[0]], obj[keys[-1]] = obj[keys[-1]], obj[keys[0]]
    path.write_text(json.dumps(obj))
    flipped = rank_correlation(data, data, configs, FAST,
                               cache=str(tmp_path))
    assert flipped.spearman < 1.0


def test_ground_truth_cache_is_per_config(tmp_path, monkeypatch):
    data = csbm(num_nodes=120, num_classes=2, avg_degree=6, homophily=0.45,
                feature_dim=8, seed=0)
    configs = sample_filter_configs(5, K=2, seed=0)
    direct = evaluate_configs(data, configs, FAST)
    trained = []
    real = evaluation.evaluate_configs

    def counting(graph, cfgs, *args, **kwargs):
        trained.extend(c.tolist() for c in cfgs)
        return real(graph, cfgs, *args, **kwargs)

    monkeypatch.setattr(evaluation, 'evaluate_configs', counting)
    first = original_results(data, configs[:3], FAST, cache=str(tmp_path))
    assert len(trained) == 3
    # more configs, in another order: only the two new ones are trained
    order = torch.tensor([4, 0, 3, 1, 2])
    more = original_results(data, configs[order], FAST, cache=str(tmp_path))
    assert trained[3:] == [configs[4].tolist(), configs[3].tolist()]
    for key in ('acc', 'loss', 'test_acc'):
        # the same as evaluating all configs at once, in the order asked
        assert np.allclose(more[key], direct[key][order.numpy()])
        assert np.allclose(first[key], direct[key][:3])
    # a different recipe is a different ground truth
    original_results(data, configs[:1], Recipe(hidden=8, epochs=5,
                                               dropout=0.0),
                     cache=str(tmp_path))
    assert len(trained) == 6 and len(os.listdir(tmp_path)) == 2


def test_ground_truth_records_seconds_per_config(tmp_path):
    data = csbm(num_nodes=120, seed=2)
    configs = sample_filter_configs(3, seed=0)
    timed = original_results(data, configs, FAST, str(tmp_path))
    assert timed['seconds'].shape == (3, ) and (timed['seconds'] > 0).all()
    # an entry written before seconds were recorded: the metrics still
    # come back, seconds only where every config has them
    path, = tmp_path.iterdir()
    saved = json.loads(path.read_text())
    del saved[next(iter(saved))]['seconds']
    path.write_text(json.dumps(saved))
    old = original_results(data, configs, FAST, str(tmp_path))
    assert 'seconds' not in old
    assert np.array_equal(old['acc'], timed['acc'])
    assert 'seconds' in original_results(data, configs[1:], FAST,
                                         str(tmp_path))


def test_transfer_results_train_on_condensed_score_on_original():
    data = csbm(num_nodes=200, num_classes=2, avg_degree=6, homophily=0.45,
                feature_dim=8, seed=0)
    configs = sample_filter_configs(4, K=2, seed=0)
    # on the original graph itself it is the ground truth
    same = transfer_results(data, data, configs, FAST)
    direct = evaluate_configs(data, configs, FAST)
    for key in ('acc', 'loss'):
        assert np.allclose(same[key], direct[key], atol=1e-6)
    # on a condensed graph: scored on the original validation nodes, not
    # on S_val
    small = RandomCondenser(data, 0.1, seed=0, progress=False).fit()
    moved = transfer_results(data, small, configs, FAST)
    own = evaluate_configs(small, configs, FAST)
    assert not np.allclose(moved['loss'], own['loss'])
    small.x = small.x[:, :4]
    with pytest.raises(ValueError, match='features'):
        transfer_results(data, small, configs, FAST)


def test_selected_performance_grid_hpo_and_oracle(tmp_path):
    data = csbm(num_nodes=200, num_classes=2, avg_degree=6, homophily=0.45,
                feature_dim=8, seed=0)
    configs = sample_filter_configs(6, K=2, seed=0)
    truth = evaluate_configs(data, configs, FAST)
    best = int(np.argmax(rank_by_accuracy(truth['acc'], truth['loss'])))
    # searching on the original graph itself selects the oracle
    perf = selected_performance(data, data, configs, FAST,
                                cache=str(tmp_path), hpo_steps=3)
    assert perf.oracle_config == perf.grid_config == configs[best].tolist()
    assert perf.oracle_test_acc == pytest.approx(truth['test_acc'][best])
    assert perf.grid_test_acc == pytest.approx(perf.oracle_test_acc)
    # HPO moved away from the grid choice and was retrained on the original
    assert perf.hpo_error is None and perf.hpo_config != perf.grid_config
    assert 0.0 <= perf.hpo_test_acc <= 1.0
    # on a condensed graph: the grid choice is its best config, scored by
    # the original-graph run of that config
    small = RandomCondenser(data, 0.1, seed=0, progress=False).fit()
    rank = rank_correlation(data, small, configs, FAST, cache=str(tmp_path))
    perf = selected_performance(data, small, configs, FAST,
                                cache=str(tmp_path), hpo_steps=0, rank=rank)
    first = max(rank.table, key=lambda row: row['condensed_rank'])
    assert perf.grid_config == first['coeffs']
    assert perf.grid_test_acc == pytest.approx(first['original_test_acc'])
    assert perf.hpo_config is None and perf.hpo_test_acc is None
    del data.test_mask
    with pytest.raises(ValueError, match='test_mask'):
        selected_performance(data, small, configs, FAST, cache=str(tmp_path))


def test_regret_recall_and_top_quartile():
    original = np.arange(8.0)            # config 7 is the best
    test = np.array([.5, .6, .6, .7, .7, .8, .8, .9])
    assert regret(test, original, original, k=1) == 0.0
    flipped = original[::-1].copy()      # picks config 0 first
    assert regret(test, original, flipped, k=1) == pytest.approx(0.4)
    assert regret(test, original, flipped, k=5) == pytest.approx(0.2)
    assert recall_at_k(original, original, 5) == 1.0
    assert recall_at_k(original, flipped, 5) == pytest.approx(2 / 5)
    rng = np.random.default_rng(0)
    noisy = original + rng.normal(0, 0.1, 8)
    assert spearman_top_fraction(original, noisy, 0.5) == pytest.approx(1.0)
    assert spearman_top_fraction(original, -original, 0.5) == \
        pytest.approx(-1.0)


def test_partial_spearman_with_several_controls():
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=60), rng.normal(size=60)
    x = z1 + z2 + 0.05 * rng.normal(size=60)
    y = z1 + z2 + 0.05 * rng.normal(size=60)
    one = partial_spearman(x, y, z1)
    both = partial_spearman(x, y, np.column_stack([z1, z2]))
    # what both owe to z2 as well is removed: less is left
    assert abs(both) < one
    with pytest.raises(ValueError):
        partial_spearman(x[:4], y[:4], np.column_stack([z1, z2])[:4])


def test_floor_proxies_and_floor():
    configs = sample_filter_configs(40, K=2, seed=0)
    proxies = floor_proxies(configs)
    assert len(proxies) == 12 and set(proxies) >= {'h(1)', '|h(2)|',
                                                   '|h(0)|/g'}
    assert np.allclose(proxies['h(1)'], configs.sum(1).numpy(), atol=1e-6)
    assert np.allclose(proxies['|h(0)|'], configs[:, 0].abs().numpy())
    # a truth that ranks by |h(1)| has |h(1)| as its floor, at Spearman 1
    truth = stats.rankdata(proxies['|h(1)|'])
    best = floor(truth, configs)
    assert best['name'] == '|h(1)|' and best['spearman'] == \
        pytest.approx(1.0)
    test_acc = proxies['|h(1)|'] / 10
    m = ranking_metrics(truth, truth, test_acc, best['values'])
    assert m['spearman'] == pytest.approx(1.0)
    assert m['beyond_floor'] is None  # nothing left beyond the proxy
    assert m['regret_top1'] == m['regret_top5'] == 0.0
    assert m['recall_at_5'] == 1.0


def test_paired_bootstrap_win_rule():
    rng = np.random.default_rng(0)
    original = np.arange(80.0)
    good = [original + rng.normal(0, 5, 80) for _ in range(3)]
    bad = [original + rng.normal(0, 40, 80) for _ in range(3)]
    result = paired_bootstrap(original, good, bad)
    assert result['win'] and not result['loss']
    assert result['low'] > 0 and result['agree'] == 3
    assert result['difference'] == pytest.approx(np.mean(result['per_seed']))
    assert paired_bootstrap(original, bad, good)['loss']
    # the same rankings: a difference of 0, no win
    tie = paired_bootstrap(original, good, good)
    assert tie['difference'] == 0 and not tie['win'] and not tie['loss']
    # a gap in one seed only is no win even if the interval excludes 0
    mixed = paired_bootstrap(original, [good[0], bad[1], bad[2]],
                             [bad[0], good[1], good[2]])
    assert not mixed['win']
    with pytest.raises(ValueError):
        paired_bootstrap(original, good, bad[:2])
    assert null_sd(80) == pytest.approx(1 / np.sqrt(79))


def test_operator_is_part_of_the_ground_truth_key(tmp_path):
    data = csbm(num_nodes=120, seed=2)
    configs = sample_filter_configs(3, seed=0)
    loops = original_results(data, configs, FAST, str(tmp_path))
    chebnet = original_results(data, configs, Recipe(
        hidden=8, epochs=30, dropout=0.0, seeds=(0, ), self_loops=False),
        str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 2
    assert not np.allclose(loops['loss'], chebnet['loss'])
    # keys made before the option existed (self-loops) stay valid
    assert evaluation._cache_key(data, FAST) == evaluation._cache_key(
        data, Recipe(hidden=8, epochs=30, dropout=0.0, seeds=(0, ),
                     self_loops=True))


def test_two_processes_filling_one_ground_truth_keep_every_entry(tmp_path):
    import subprocess
    import sys
    script = (
        "import sys, torch\n"
        "from hcdc_graph.datasets import csbm\n"
        "from hcdc_graph.evaluation import (Recipe, original_results,\n"
        "                                   sample_filter_configs)\n"
        "part = int(sys.argv[1])\n"
        "configs = sample_filter_configs(12, seed=0)[part::2]\n"
        "original_results(csbm(num_nodes=120, seed=2), configs,\n"
        "                 Recipe(hidden=4, epochs=40), sys.argv[2])\n")
    jobs = [subprocess.Popen([sys.executable, '-c', script, str(part),
                              str(tmp_path)]) for part in (0, 1)]
    assert [job.wait(timeout=300) for job in jobs] == [0, 0]
    files = [p for p in tmp_path.iterdir() if p.suffix == '.json']
    assert len(files) == 1
    assert len(json.loads(files[0].read_text())) == 12


def test_corrupt_ground_truth_cache_is_a_clear_error(tmp_path):
    data = csbm(num_nodes=120, seed=2)
    configs = sample_filter_configs(2, seed=0)
    original_results(data, configs, FAST, str(tmp_path))
    path, = [p for p in tmp_path.iterdir() if p.suffix == '.json']
    path.write_text('{"half')
    with pytest.raises(ValueError, match='corrupt.*delete it') as e:
        original_results(data, configs, FAST, str(tmp_path))
    assert str(path) in str(e.value)
