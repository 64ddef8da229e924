"""Optuna search on condensed graphs: objective, storages, workers (a real
PostgreSQL server where the machine has one), retraining."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

optuna = pytest.importorskip('optuna')

from hcdc_graph.condense import RandomCondenser  # noqa: E402
from hcdc_graph.datasets import csbm  # noqa: E402
from hcdc_graph.evaluation import Recipe  # noqa: E402
from hcdc_graph.search import (best_trial, filter_objective,  # noqa: E402
                               retrain, search, storage_from_url, trace)

FAST = Recipe(hidden=8, epochs=20)


@pytest.fixture(scope='module')
def graphs():
    original = csbm(num_nodes=200, seed=0)
    return original, RandomCondenser(original, 0.1, progress=False).fit()


def test_in_memory_search_and_retrain(graphs):
    original, condensed = graphs
    study = search(condensed, 5, recipe=FAST, seed=0)
    assert len(study.trials) == 5
    best = best_trial(study)
    assert 'val_loss' in best.user_attrs and len(best.user_attrs['coeffs']) == 3
    # the same seed suggests the same filters
    again = search(condensed, 5, recipe=FAST, seed=0)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]
    result = retrain(best.params, original, seeds=(0, 1), recipe=FAST)
    assert len(result['test_acc_per_seed']) == 2 and 0 <= result['test_acc'] <= 1
    # retraining uses the original graph: a condensed graph has no test mask
    with pytest.raises(ValueError, match='test_mask'):
        retrain(best.params, condensed, recipe=FAST)


def test_trace_follows_the_incumbent(graphs):
    original, condensed = graphs
    study = search(condensed, 6, recipe=FAST, seed=1, sampler='random')
    rows = trace(study, original, recipe=FAST)
    assert [r['trial'] for r in rows] == sorted(t.number for t in
                                                study.trials)
    seconds = [r['seconds'] for r in rows]
    assert seconds == sorted(seconds) and seconds[0] > 0
    # the incumbent is the best trial so far, and it ends at best_trial
    for i, row in enumerate(rows):
        so_far = max(r['val_acc'] for r in rows[:i + 1])
        assert study.trials[row['incumbent']].value == so_far
    best = best_trial(study)
    assert rows[-1]['incumbent'] == best.number
    assert rows[-1]['incumbent_test_acc'] == retrain(
        best.params, original, (0, ), recipe=FAST)['test_acc']


def test_tuned_hyperparameters_and_bad_input(graphs):
    _, condensed = graphs
    study = search(condensed, 3, recipe=FAST, tune=('lr', 'dropout'),
                   sampler='random')
    assert {'lambda_0', 'lr', 'dropout'} <= set(study.trials[0].params)
    with pytest.raises(ValueError, match='Cannot tune'):
        filter_objective(condensed, tune=('epochs', ))
    with pytest.raises(ValueError, match='Unknown storage'):
        storage_from_url('mysql://nowhere/db')
    with pytest.raises(ValueError, match='share a study'):
        search(condensed, 2, workers=2)


def test_sqlite_study_resumes_its_trial_count(graphs, tmp_path):
    _, condensed = graphs
    url = f'sqlite:///{tmp_path}/study.db'
    search(condensed, 3, storage=url, recipe=FAST)
    study = search(condensed, 5, storage=url, recipe=FAST)
    assert len(study.trials) == 5  # 3 resumed + 2 new, not 3 + 5


def _check_all_recorded_once(study, n, workers):
    complete = [t for t in study.trials
                if t.state == optuna.trial.TrialState.COMPLETE]
    numbers = [t.number for t in study.trials]
    assert len(set(numbers)) == len(numbers)
    # MaxTrialsCallback stops each worker once n are done: at most one
    # trial per other worker finishes after that
    assert n <= len(complete) <= n + workers - 1
    assert all(t.user_attrs.get('coeffs') for t in complete)


def test_two_local_workers_share_a_journal(graphs, tmp_path):
    _, condensed = graphs
    study = search(condensed, 6, storage=f'journal:{tmp_path}/study.log',
                   recipe=FAST, workers=2)
    _check_all_recorded_once(study, 6, 2)


def _postgres_bin():
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which('initdb')
    return os.path.dirname(initdb) if initdb else None


@pytest.fixture
def postgres():
    """A throw-away PostgreSQL cluster on 127.0.0.1 (as the postgres user
    when run as root: the server refuses root)."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip('PostgreSQL (initdb) is not installed')
    pytest.importorskip('psycopg2')
    as_user = ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 \
        else []
    folder = tempfile.mkdtemp(prefix='hcdc-pg-')
    if as_user:
        shutil.chown(folder, 'postgres')
    data = os.path.join(folder, 'data')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]

    def run(*argv):
        subprocess.run(as_user + [os.path.join(bindir, argv[0]), *argv[1:]],
                       check=True, capture_output=True, timeout=120)

    run('initdb', '-D', data, '-A', 'trust', '--no-sync', '-U', 'postgres')
    run('pg_ctl', '-D', data, '-w', '-l', os.path.join(folder, 'log'),
        '-o', f'-c fsync=off -c listen_addresses=127.0.0.1 -p {port} '
              f'-k {folder}', 'start')
    try:
        run('createdb', '-h', '127.0.0.1', '-p', str(port), '-U', 'postgres',
            'hcdc')
        yield f'postgresql+psycopg2://postgres@127.0.0.1:{port}/hcdc'
    finally:
        run('pg_ctl', '-D', data, '-m', 'immediate', 'stop')
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_on_one_postgresql_study(graphs, postgres):
    _, condensed = graphs
    study = search(condensed, 6, storage=postgres, recipe=FAST, workers=2,
                   study_name='shared')
    _check_all_recorded_once(study, 6, 2)
    # another process (machine) joining the same URL sees the same study
    again = optuna.load_study(study_name='shared',
                              storage=storage_from_url(postgres))
    assert len(again.trials) == len(study.trials)


def test_search_command(graphs, tmp_path, capsys):
    import json

    import torch

    from hcdc_graph import io
    from hcdc_graph.cli import main
    path = tmp_path / 'g.pt'
    assert main(['condense', '--dataset', 'csbm', '--num-nodes', '200',
                 '--method', 'random', '--ratio', '0.1', '--out', str(path),
                 '--quiet']) == 0
    common = ['search', '--dataset', 'csbm', '--num-nodes', '200',
              '--condensed', str(path), '--epochs', '20', '--hidden', '8',
              '--quiet', '--retrain-seeds', '0']
    capsys.readouterr()
    assert main(common + ['--trials', '4', '--json', '-']) == 0
    out = json.loads(capsys.readouterr().out)
    assert out['trials'] == 4 and 0 <= out['test_acc'] <= 1
    assert out['original_seconds_projected'] > 0 and 'trace' not in out
    untraced = tmp_path / 'untraced.json'
    untraced.write_text(json.dumps(out))
    # traced, on the condensed graph and on the original itself, and drawn
    traced = []
    for argv in (['--condensed', str(path)], []):
        argv = [a for a in common if a not in ('--condensed', str(path))] + \
            argv + ['--trials', '3', '--trace']
        traced.append(tmp_path / f'trace-{len(traced)}.json')
        assert main(argv + ['--json', str(traced[-1])]) == 0
    out = json.loads(traced[1].read_text())
    assert out['condensed'] is None and len(out['trace']) == 3
    assert out['original_seconds_projected'] == out['search_seconds']
    pytest.importorskip('matplotlib')
    figure = tmp_path / 'speedup.png'
    assert main(['plot', 'speedup', *map(str, traced), '--out',
                 str(figure)]) == 0
    assert figure.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert figure.stat().st_size > 10_000
    capsys.readouterr()
    assert main(['plot', 'speedup', str(untraced), '--out',
                 str(figure)]) == 2
    assert "search --trace" in capsys.readouterr().err
    # bad input: one line, exit 2
    broken = tmp_path / 'no-masks.pt'
    graph = io.load(path)
    io.save_payload({k: v for k, v in graph.to_dict().items()
                     if isinstance(v, torch.Tensor) and k != 'val_mask'},
                    {}, broken)
    for argv, words in (
            (['--storage', 'mysql://x/y'], 'unknown --storage'),
            (['--workers', '2'], 'give --storage'),
            (['--storage', 'postgresql+psycopg2://nobody@127.0.0.1:1/none'],
             "storage failed"),
            (['--condensed', str(broken)], 'val_mask')):
        capsys.readouterr()
        assert main(common + ['--trials', '2'] + argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
