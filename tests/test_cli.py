"""The evaluate and table2 commands, on small generated graphs."""
import json
import os

import pytest
import torch

from hcdc_graph import io
from hcdc_graph.cli import main
from hcdc_graph.evaluation import Recipe
from hcdc_graph.table2 import beyond_h0, compute_seconds

FAST = ['--configs', '4', '--epochs', '10', '--hidden', '8', '--hpo-steps',
        '2', '--quiet']


@pytest.fixture
def condensed_file(tmp_path):
    path = tmp_path / 'random.pt'
    assert main(['condense', '--dataset', 'csbm', '--num-nodes', '300',
                 '--method', 'random', '--ratio', '0.05', '--out', str(path),
                 '--quiet']) == 0
    return path


def test_evaluate_prints_and_writes_json(condensed_file, tmp_path, capsys):
    out = tmp_path / 'eval.json'
    capsys.readouterr()
    assert main(['evaluate', '--dataset', 'csbm', '--num-nodes', '300',
                 '--condensed', str(condensed_file), '--json', str(out)]
                + FAST) == 0
    text = capsys.readouterr().out
    assert 'Corr. (Spearman)' in text and 'Kendall' in text
    assert 'Perf.' in text and 'oracle' in text
    result = json.loads(out.read_text())
    assert -1 <= result['spearman'] <= 1 and len(result['table']) == 4
    assert 0 <= result['grid_test_acc'] <= 1
    assert result['grid_config'] in [row['coeffs'] for row in result['table']]


def test_evaluate_bad_inputs_exit_2(condensed_file, tmp_path, capsys):
    corrupt = tmp_path / 'corrupt.pt'
    corrupt.write_bytes(condensed_file.read_bytes()[:100])
    base = ['evaluate', '--dataset', 'csbm', '--num-nodes', '300'] + FAST
    for argv, words in (
            (['--condensed', str(tmp_path / 'missing.pt')], 'No such file'),
            (['--condensed', str(corrupt)], 'not a readable'),
            (['--condensed', str(condensed_file), '--configs', '2'],
             '--configs'),
    ):
        capsys.readouterr()
        assert main(base + argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    # a graph condensed from another dataset (another feature width)
    other = io.load(condensed_file)
    other.x = other.x[:, :3]
    io.save(other, tmp_path / 'other.pt')
    capsys.readouterr()
    assert main(base + ['--condensed', str(tmp_path / 'other.pt')]) == 2
    assert 'another dataset' in capsys.readouterr().err
    assert main(['evaluate', '--dataset', 'Nope', '--condensed',
                 str(condensed_file)] + FAST) == 2


def test_table2_cells_are_resumable(tmp_path, capsys):
    out = tmp_path / 'table'
    argv = ['table2', '--datasets', 'csbm', '--num-nodes', '300',
            '--ratios', '0.05', '--methods', 'random', '--seeds', '2',
            '--out', str(out)] + FAST + ['--configs', '8']
    assert main(argv) == 0
    cells = sorted(p.name for p in (out / 'cells').iterdir())
    assert cells == ['csbm-0.05-random-0.json', 'csbm-0.05-random-1.json']
    table = (out / 'table2.md').read_text()
    row = [line for line in table.splitlines() if '| random |' in line]
    assert len(row) == 1 and '0 1' in row[0] and '±' in row[0]
    # the column after Corr.: this nearly edgeless graph ranks the filters
    # exactly by |h(0)|, so nothing is left beyond it (undefined)
    assert row[0].split(' | ')[5] == '–'
    assert 'Whole-graph Perf. on csbm' in table
    assert 'Data-free reference on csbm: ranking the filters by |h(0)|' \
        in table
    # a rerun reads the cells back instead of recomputing them
    cell = out / 'cells' / 'csbm-0.05-random-0.json'
    obj = json.loads(cell.read_text())
    obj['spearman'] = 5.0
    for entry in obj['table']:  # a cell that ranks as the original does
        entry['condensed_rank'] = entry['original_rank']
    cell.write_text(json.dumps(obj))
    assert main(argv + ['--report-only']) == 0
    assert (out / 'table2.md').read_text() != table
    row = [line for line in (out / 'table2.md').read_text().splitlines()
           if '| random |' in line]
    # Corr. beyond |h(0)| comes from the tables: 1 for the edited cell,
    # the other still undefined and left out of the mean
    assert beyond_h0(obj) == pytest.approx(1.0)
    assert row[0].split(' | ')[5] == '1.00'
    # a run for other cells keeps the rows of the cells already there
    other = [a if a != '0.05' else '0.1' for a in argv]
    assert main(other + ['--report-only']) == 0
    assert '| csbm | 5.0 % | random | 0 1 |' in (out / 'table2.md').read_text()
    # --report puts the table elsewhere and leaves <out>/table2.md alone
    report = tmp_path / 'report.md'
    (out / 'table2.md').unlink()
    assert main(argv + ['--report-only', '--report', str(report)]) == 0
    assert 'Compute of these 2 cells' in report.read_text()
    assert report.read_text().startswith(
        f'Produced by `hcdc-graph table2 --datasets csbm --num-nodes 300 '
        f'--ratios 0.05 --methods random --seeds 2 --out {out}')
    assert '--report-only' not in report.read_text()
    assert not (out / 'table2.md').exists()


def test_compute_seconds_counts_the_reused_gcond_graph_once():
    def cell(method, seed, condense, evaluate):
        return {'dataset': 'Cora', 'ratio': 0.018, 'method': method,
                'seed': seed, 'condense_seconds': condense,
                'evaluate_seconds': evaluate}
    # HCDC seed 0's 900 s include its GCond graph's 200 s
    cells = [cell('gcond', 0, 200.0, 10.0), cell('hcdc', 0, 900.0, 20.0),
             cell('hcdc', 1, 950.0, 30.0), cell('random', 0, 0.0, 5.0)]
    assert compute_seconds(cells) == {'condense': 200.0 + 700.0 + 950.0,
                                      'evaluate': 65.0}


def test_table2_ground_truth_and_graph_folders(tmp_path, capsys):
    out = tmp_path / 'table'
    argv = ['table2', '--datasets', 'csbm', '--num-nodes', '300',
            '--ratios', '0.05', '--methods', 'random', '--seeds', '1'] + FAST
    graphs = tmp_path / 'graphs'
    assert main(argv + ['--out', str(out), '--graph-dir', str(graphs)]) == 0
    name, = [p.name for p in graphs.iterdir()]
    assert name.startswith('csbm-random-0.05-0-') and name.endswith('.pt')
    # another generated graph is another cache entry, not the cached one
    assert main(argv + ['--out', str(tmp_path / 'dim'), '--feature-dim',
                        '16', '--graph-dir', str(graphs)]) == 0
    assert len(list(graphs.iterdir())) == 2
    # ... and its cells are not those of the other graph either
    capsys.readouterr()
    assert main(argv + ['--out', str(out), '--feature-dim', '16',
                        '--graph-dir', str(graphs)]) == 2
    assert 'computed on another graph' in capsys.readouterr().err
    files = list((out / 'ground_truth').iterdir())
    assert len(files) == 1  # one graph, one recipe
    saved = json.loads(files[0].read_text())
    assert len(saved) == 4  # one entry per config
    # A run elsewhere pointed at this folder uses it instead of retraining
    # on the original graph: marked accuracies show up in its cell.
    for row in saved.values():
        row['acc'] = 0.123
    files[0].write_text(json.dumps(saved))
    other = tmp_path / 'other'
    assert main(argv + ['--out', str(other), '--ground-truth',
                        str(out / 'ground_truth')]) == 0
    assert not (other / 'ground_truth').exists()
    cell = json.loads((other / 'cells' / 'csbm-0.05-random-0.json')
                      .read_text())
    assert [row['original_val_acc'] for row in cell['table']] == [0.123] * 4


def test_read_json_folder_skips_unfinished_writes(tmp_path):
    from hcdc_graph import io
    io.write_json(tmp_path / 'b.json', {'x': 2})
    io.write_json(tmp_path / 'a.json', [1])
    (tmp_path / 'c.json.tmp').write_text('{"half')  # an interrupted write
    assert io.read_json_folder(tmp_path) == {'a': [1], 'b': {'x': 2}}
    assert list(io.read_json_folder(tmp_path)) == ['a', 'b']


def test_table2_bad_inputs_exit_2(tmp_path, capsys):
    for argv, words in (
            (['--methods', 'nope'], 'unknown method'),
            (['--ratios', '0'], '--ratios'),
    ):
        capsys.readouterr()
        assert main(['table2', '--datasets', 'csbm', '--out',
                     str(tmp_path)] + argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0]


def test_image_condense_and_evaluate(tmp_path, capsys):
    from PIL import Image

    from conftest import data_file
    for split, n in (('train', 8), ('test', 1)):
        for c in ('cat', 'dog', 'emu'):
            folder = tmp_path / 'cifar10' / split / c
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new('RGB', (32, 32), (40 * i, 80, 120)).save(
                    folder / f'{i}.png')
    out = tmp_path / 'random.pt'
    assert main(['image', 'condense', '--method', 'random', '--ipc', '1',
                 '--real-val-size', '9', '--root', str(tmp_path), '--out',
                 str(out), '--quiet']) == 0
    assert 'random on CIFAR-10' in capsys.readouterr().out
    assert main(['image', 'condense', '--method', 'nope', '--root',
                 str(tmp_path), '--out', str(out)]) == 2
    assert 'unknown method' in capsys.readouterr().err
    table = data_file('nasbench201', 'nats_bench_tss_200ep_test_acc.csv')
    if table is None:
        pytest.skip('NAS-Bench-201 table not found')
    assert main(['image', 'evaluate', '--condensed', str(out), '--archs',
                 '3', '--epochs', '1', '--table', table, '--quiet']) == 0
    assert 'Spearman' in capsys.readouterr().out
    assert main(['image', 'evaluate', '--condensed', str(tmp_path / 'no.pt'),
                 '--table', table]) == 2


def test_generator_options(tmp_path, capsys):
    path = tmp_path / 'g.pt'
    assert main(['condense', '--dataset', 'csbm', '--num-nodes', '240',
                 '--num-classes', '3', '--avg-degree', '4',
                 '--feature-dim', '6', '--feature-noise', '2',
                 '--method', 'random', '--ratio', '0.05', '--out', str(path),
                 '--quiet']) == 0
    graph = io.load(path)
    assert graph.num_features == 6 and int(graph.y.max()) == 2
    capsys.readouterr()
    # generator options make no sense for a real dataset
    assert main(['condense', '--dataset', 'Cora', '--num-nodes', '240',
                 '--method', 'random', '--ratio', '0.05', '--out',
                 str(path), '--quiet']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--num-nodes" in err[0] and 'csbm' in err[0]


def test_original_nodes_option_is_checked(tmp_path, capsys):
    common = ['condense', '--dataset', 'csbm', '--num-nodes', '240',
              '--ratio', '0.05', '--out', str(tmp_path / 'g.pt'), '--quiet']
    assert main(common + ['--method', 'random', '--original-nodes',
                          '100']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '--original-nodes' in err[0] and 'hcdc' in err[0]
    assert main(common + ['--method', 'hcdc', '--original-nodes',
                          '500']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'original_nodes'" in err[0] and '240' in err[0]
    assert not (tmp_path / 'g.pt').exists()


def test_benchmark_cells_report_and_bad_input(tmp_path, capsys, monkeypatch):
    from hcdc_graph import benchmark
    # a tiny protocol: 8 configs, the ceiling on 6 of them, a small graph
    monkeypatch.setattr(benchmark, 'NUM_CONFIGS', 8)
    monkeypatch.setitem(benchmark.CEILING_CONFIGS, 'csbm-h0.9', 6)
    real = benchmark.load_benchmark_dataset

    def small(name, root=None):
        data = real(name, root).subgraph(torch.arange(300))
        data.name = name
        return data
    monkeypatch.setattr(benchmark, 'load_benchmark_dataset', small)
    monkeypatch.setattr(benchmark, 'Recipe',
                        lambda **kw: Recipe(hidden=8, epochs=20, **kw))
    out = tmp_path / 'v2'
    argv = ['benchmark', '--datasets', 'csbm-h0.9', '--methods', 'random',
            '--seeds', '2', '--ratios', '0.1', '--out', str(out), '--quiet']
    assert main(argv) == 0
    cells = sorted(p.name for p in (out / 'cells').iterdir())
    assert cells == [f'csbm-h0.9-{op}-0.1-random-{s}.json'
                     for op in ('loops', 'noloops') for s in (0, 1)]
    ceilings = sorted(p.name for p in (out / 'ceilings').iterdir())
    assert ceilings == ['csbm-h0.9-loops.json', 'csbm-h0.9-noloops.json']
    assert json.loads((out / 'ceilings' / ceilings[0]).read_text())[
        'num_configs'] == 6
    report = (out / 'benchmark_v2.md').read_text()
    # the first line names the command of every cell found, not of the
    # last run
    assert report.splitlines()[0].startswith(
        f'Produced by `hcdc-graph benchmark --datasets csbm-h0.9 --methods '
        f'random --operators noloops loops --out {out}` (4 cells;')
    assert report.count('### csbm-h0.9') == 2
    assert "Spearman between the two operators' ground truths" in report
    rows = [r for r in report.splitlines() if r.startswith('| 10.0 % |')]
    assert len(rows) == 2 and all('| random | 0 1 |' in r for r in rows)
    assert sum(r.startswith('| – | floor (') for r in report.splitlines()) \
        == 2
    # the report comes from the cells' tables: an edited cell shows up
    path = out / 'cells' / cells[0]
    cell = json.loads(path.read_text())
    for row in cell['table']:
        row['condensed_rank'] = row['original_rank']
    path.write_text(json.dumps(cell))
    assert main(argv + ['--report-only']) == 0
    assert (out / 'benchmark_v2.md').read_text() != report
    for bad, words in ((['--datasets', 'Pubmed'], 'unknown benchmark'),
                       (['--operators', 'both'], 'unknown operator'),
                       (['--seeds', '0'], '--seeds')):
        capsys.readouterr()
        assert main(argv + bad) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0]


BAD_INVOCATIONS = [
    (['condense', '--dataset', 'csbm', '--method', 'random', '--ratio', '0',
      '--out', 'x.pt'], '--ratio'),
    (['condense', '--dataset', 'csbm', '--method', 'random', '--ratio',
      '0.1', '--out', '{tmp}/missing/x.pt'], 'does not exist'),
    (['condense', '--dataset', 'csbm', '--method', 'random', '--ratio',
      '0.1', '--out', '{tmp}'], 'is a folder'),
    (['condense', '--dataset', 'csbm', '--method', 'random', '--ratio',
      '0.1', '--out', ''], 'empty'),
    (['condense', '--dataset', 'csbm', '--method', 'random', '--ratio',
      '0.1', '--out', '{tmp}/read-only/x.pt'], 'not writable'),
    (['condense', '--dataset', 'csbm', '--method', 'nope', '--ratio', '0.1',
      '--out', 'x.pt'], 'unknown method'),
    (['condense', '--dataset', 'csbm', '--method', 'random', '--ratio',
      '0.1', '--val-ratio', 'inf', '--out', 'x.pt'], '--val-ratio'),
    (['condense', '--dataset', 'csbm', '--method', 'random', '--ratio',
      '0.1', '--space', 'nas-bench-graph', '--out', 'x.pt'], '--space'),
    (['condense', '--dataset', 'csbm', '--method', 'hcdc', '--ratio',
      '0.1', '--compile', '--out', 'x.pt'], '--compile'),
    (['table2', '--datasets', 'csbm', '--out', '{tmp}/file'], 'is a file'),
    (['table2', '--datasets', 'csbm', '--seeds', '0', '--out', '{tmp}'],
     '--seeds'),
    (['train', '--dataset', 'csbm', '--avg-degree', 'inf'], '--avg-degree'),
    (['train', '--dataset', 'csbm', '--homophily', '1.5'], '--homophily'),
    (['evaluate', '--dataset', 'csbm', '--condensed', 'x.pt', '--hidden',
      '0'], '--hidden'),
    (['evaluate', '--dataset', 'csbm', '--condensed', 'x.pt', '--hpo-steps',
      '-3'], '--hpo-steps'),
    (['train', '--coeffs', 'nan', '1'], '--coeffs'),
]


@pytest.mark.parametrize('argv,words', BAD_INVOCATIONS,
                         ids=[' '.join(a[:1] + a[-3:-1])
                              for a, _ in BAD_INVOCATIONS])
def test_bad_arguments_fail_before_any_work(argv, words, tmp_path):
    # one line, exit 2, and before torch is even imported
    import subprocess
    import sys
    (tmp_path / 'file').write_text('')
    (tmp_path / 'read-only').mkdir()
    os.chmod(tmp_path / 'read-only', 0o555)
    argv = [a.replace('{tmp}', str(tmp_path)) for a in argv]
    code = ("import sys\n"
            "from hcdc_graph.cli import main\n"
            f"rc = main({argv!r})\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "sys.exit(rc)\n")
    run = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], run.stderr


def test_cli_conventions(tmp_path, capsys):
    # no command: the help, exit 2
    assert main([]) == 2
    assert 'usage: hcdc-graph' in capsys.readouterr().err
    # --json - puts JSON (alone) on stdout, the text on stderr
    assert main(['train', '--dataset', 'csbm', '--num-nodes', '200',
                 '--epochs', '5', '--seeds', '0', '--json', '-']) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result['coeffs'] == [1, -1, 0] and len(result['runs']) == 1
    assert 'test accuracy' in out.err
    # a filter that makes training diverge: an error, not "accuracy 49.6 %"
    assert main(['train', '--dataset', 'csbm', '--num-nodes', '200',
                 '--epochs', '5', '--seeds', '0', '--coeffs', '1e30', '1e30',
                 '1e30']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'diverged' in err[0]
    # an impossible generated graph: refused before allocating it
    assert main(['train', '--dataset', 'csbm', '--num-nodes', '200',
                 '--avg-degree', '1e9']) == 2
    assert "'avg_degree' must be in" in capsys.readouterr().err
    path = tmp_path / 'g.pt'
    assert main(['condense', '--dataset', 'csbm', '--num-nodes', '200',
                 '--method', 'random', '--ratio', '0.05', '--out', str(path),
                 '--quiet', '--json', '-']) == 0
    made = json.loads(capsys.readouterr().out)
    assert made['method'] == 'random' and made['out'] == str(path)
