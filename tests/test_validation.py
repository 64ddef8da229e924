"""Malformed graphs and condensed files: a clear error naming the field,
never a crash, a NaN result or a hang (issue: a house users can trust)."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from hcdc_graph import io
from hcdc_graph.condense import RandomCondenser
from hcdc_graph.datasets import check_graph, csbm
from hcdc_graph.evaluation import (Recipe, evaluate_configs,
                                   rank_correlation, sample_filter_configs)


def small_graph(n=40, seed_=0):
    return csbm(num_nodes=n, feature_dim=4, seed=seed_, train_ratio=0.3,
                val_ratio=0.3)


def broken(field, value):
    data = small_graph()
    data[field] = value
    return data


N = 40
BAD = [
    # (what, graph, words the error must contain)
    ('edge_index past the last node', lambda: broken(
        'edge_index', torch.tensor([[0, 1], [1, N]])), 'outside [0, 40)'),
    ('negative edge index', lambda: broken(
        'edge_index', torch.tensor([[0, -1], [1, 2]])), 'outside'),
    ('edge_index of shape (E, 2)', lambda: broken(
        'edge_index', torch.tensor([[0, 1], [1, 2], [2, 3]])), '(2, E)'),
    ('edge_index of shape (3, E)', lambda: broken(
        'edge_index', torch.zeros(3, 4, dtype=torch.long)), '(2, E)'),
    ('float edge_index', lambda: broken(
        'edge_index', torch.zeros(2, 4)), 'integer'),
    ('NaN edge weight', lambda: broken(
        'edge_weight', torch.full((small_graph().edge_index.size(1), ),
                                  float('nan'))), 'edge_weight'),
    ('negative edge weight', lambda: broken(
        'edge_weight', -torch.ones(small_graph().edge_index.size(1))),
     'non-negative'),
    ('edge weights of the wrong length', lambda: broken(
        'edge_weight', torch.ones(3)), 'one weight per edge'),
    ('1-D x', lambda: broken('x', torch.ones(N)), '2-D'),
    ('integer features', lambda: broken(
        'x', torch.ones(N, 4, dtype=torch.long)), 'floating point'),
    ('infinite features', lambda: broken(
        'x', torch.full((N, 4), math.inf)), 'NaN or infinite'),
    ('float labels', lambda: broken('y', torch.zeros(N)), 'integer'),
    ('negative labels', lambda: broken(
        'y', -torch.ones(N, dtype=torch.long)), 'negative'),
    ('labels of the wrong length', lambda: broken(
        'y', torch.zeros(3, dtype=torch.long)), 'one label per node'),
    ('same train and validation nodes', lambda: broken(
        'val_mask', small_graph().train_mask.clone()), 'disjoint'),
    ('integer mask', lambda: broken(
        'train_mask', torch.ones(N, dtype=torch.long)), 'boolean'),
    ('mask of the wrong length', lambda: broken(
        'val_mask', torch.ones(3, dtype=torch.bool)), 'boolean'),
]


@pytest.mark.parametrize('what,make,words', BAD, ids=[b[0] for b in BAD])
def test_malformed_graphs_are_refused_everywhere(what, make, words,
                                                 tmp_path):
    data = make()
    with pytest.raises(ValueError, match=words.replace('(', r'\(')
                       .replace(')', r'\)').replace('[', r'\[')):
        check_graph(data)
    configs = sample_filter_configs(3)
    recipe = Recipe(hidden=4, epochs=2, seeds=(0, ))
    for call in (lambda: RandomCondenser(data, 0.1),
                 lambda: evaluate_configs(data, configs, recipe),
                 lambda: rank_correlation(small_graph(), data, configs,
                                          recipe, str(tmp_path))):
        with pytest.raises(ValueError):
            call()
    # the same graph saved as a condensed file: refused on load
    path = tmp_path / 'g.pt'
    tensors = {k: v for k, v in data.to_dict().items()
               if isinstance(v, torch.Tensor)}
    io.save_payload(tensors, {'method': 'random'}, path)
    with pytest.raises(io.CondensedFileError, match='malformed graph'):
        io.load(path)


def test_rank_correlation_refuses_what_would_score_1(tmp_path):
    original, condensed = small_graph(), small_graph(seed_=1)
    configs = sample_filter_configs(4)
    with pytest.raises(ValueError, match='seeds is empty'):
        Recipe(seeds=())
    with pytest.raises(ValueError, match='more than once'):
        rank_correlation(original, condensed, configs[:1].repeat(80, 1),
                         Recipe(hidden=4, epochs=2), str(tmp_path))
    other = csbm(num_nodes=40, feature_dim=6, seed=0, train_ratio=0.3,
                 val_ratio=0.3)
    with pytest.raises(ValueError, match='6 features, the original 4'):
        rank_correlation(original, other, configs,
                         Recipe(hidden=4, epochs=2), str(tmp_path))
    for bad in ({'hidden': 0}, {'epochs': -3}, {'dropout': 1.0}):
        with pytest.raises(ValueError, match='Recipe'):
            Recipe(**bad)


def _payload(tmp_path, tensors, meta=None, name='g.pt'):
    path = tmp_path / name
    torch.save({'format': io.FORMAT, 'version': io.VERSION,
                'tensors': tensors, 'meta': meta if meta is not None
                else {'method': 'random'}}, path)
    return path


def test_condensed_file_schema(tmp_path):
    good = {k: v for k, v in small_graph().to_dict().items()
            if isinstance(v, torch.Tensor)}
    assert io.load(_payload(tmp_path, good)).num_nodes == N
    cases = [
        (list(good.values()), None, "'tensors' must map names"),
        (good, ['method'], "'meta' must map"),
        (good, {'x': 1.0}, 'both as tensors and as metadata'),
        ({k: v for k, v in good.items() if k != 'edge_index'}, None,
         'has no edge_index'),
        ({**good, 'y': -good['y'] - 1}, None, 'negative labels'),
    ]
    for i, (tensors, meta, words) in enumerate(cases):
        with pytest.raises(io.CondensedFileError, match=words) as e:
            io.load(_payload(tmp_path, tensors, meta, f'{i}.pt'))
        assert len(str(e.value).splitlines()) == 1
    path = tmp_path / 'no-meta.pt'
    torch.save({'format': io.FORMAT, 'version': io.VERSION,
                'tensors': good}, path)
    with pytest.raises(io.CondensedFileError, match="'meta'"):
        io.load(path)


# -- fuzz: hypothesis-generated malformed graphs, seeded, >= 50 cases --------

FIELDS = ('x', 'y', 'edge_index', 'edge_weight', 'train_mask', 'val_mask')
VALUES = st.one_of(
    st.none(),
    st.sampled_from([float('nan'), float('inf'), -1, 0, N, 10 ** 9]),
    st.builds(lambda shape, dtype, fill: torch.full(shape, fill,
                                                    dtype=dtype),
              st.lists(st.integers(0, 5), min_size=0, max_size=3)
              .map(tuple),
              st.sampled_from([torch.float32, torch.int64, torch.bool]),
              st.sampled_from([0, 1, -1, N, 3])),
)


@seed(20261201)
@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=VALUES,
       as_file=st.booleans())
def test_fuzz_malformed_graph_or_file(field, value, as_file, tmp_path_factory):
    data = small_graph()
    if value is None:
        del data[field]
    else:
        data[field] = value
    try:
        if as_file:
            path = tmp_path_factory.mktemp('fuzz') / 'g.pt'
            tensors = {k: v for k, v in data.to_dict().items()
                       if isinstance(v, torch.Tensor)}
            meta = {k: v for k, v in data.to_dict().items()
                    if not isinstance(v, torch.Tensor)}
            _payload(path.parent, tensors, meta, path.name)
            data = io.load(path)
        check_graph(data)
    except ValueError as e:
        assert str(e) and len(str(e).splitlines()) == 1
        return
    # accepted: then it is a graph every step can use, with finite results
    result = evaluate_configs(data, sample_filter_configs(2),
                              Recipe(hidden=4, epochs=2, seeds=(0, )))
    assert all(math.isfinite(v) for v in result['loss'])
