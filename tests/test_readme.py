"""The README's quick starts run as written."""
import os
import os.path as osp
import re
import subprocess
import sys

README = osp.join(osp.dirname(__file__), '..', 'README.md')


def quickstart(language):
    text = open(README).read()
    match = re.search(rf'<!-- quickstart: {language} .*?-->\n```{language}\n'
                      r'(.*?)\n```', text, re.S)
    assert match, f'no {language} quick start in the README'
    return match.group(1)


def run(argv, tmp_path, **kwargs):
    env = {**os.environ, 'HCDC_CACHE': str(tmp_path / 'cache'),
           'PATH': osp.dirname(sys.executable) + os.pathsep +
           os.environ.get('PATH', '')}
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600, **kwargs)


def test_python_quickstart_runs_as_written(tmp_path):
    done = run([sys.executable, '-c', quickstart('python')], tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(r'Spearman -?\d\.\d\d over 12 filters', done.stdout)
    assert 'train_mask' in done.stdout and 'val_mask' in done.stdout


def test_command_line_quickstart_runs_as_written(tmp_path):
    import json
    lines = quickstart('bash').splitlines()
    assert [line.split()[0] for line in lines] == ['hcdc-graph'] * 2
    outputs = []
    for line in lines:
        done = run(['bash', '-c', line], tmp_path)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert (tmp_path / 'graph.pt').exists()
    result = json.loads(outputs[-1])
    assert len(result['table']) == 12 and -1 <= result['spearman'] <= 1
