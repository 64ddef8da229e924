"""Pictures from committed-format cell JSON."""
import json
import os.path as osp
import struct

import pytest

pytest.importorskip('matplotlib')

from hcdc_graph.cli import main  # noqa: E402

CELLS = osp.join(osp.dirname(__file__), '..', 'examples', 'results',
                 'table2', 'cells')


def png_size(path):
    data = open(path, 'rb').read(24)
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', data[16:24])


@pytest.mark.parametrize('kind,size', [('ranking', (1080, 450)),
                                       ('scatter', (1152, 720))])
def test_plots_write_the_expected_png(kind, size, tmp_path, capsys):
    cells = [osp.join(CELLS, f'Cora-0.018-{m}-0.json')
             for m in ('random', 'gcond-x', 'gcond', 'hcdc')]
    out = tmp_path / f'{kind}.png'
    assert main(['plot', kind, *cells, '--out', str(out)]) == 0
    assert png_size(out) == size and out.stat().st_size > 10_000


def test_plot_bad_input(tmp_path, capsys):
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'spearman': 1.0}))
    for argv, words in (([str(tmp_path / 'missing.json')], 'cannot read'),
                        ([str(bad)], "per-config 'table'")):
        capsys.readouterr()
        assert main(['plot', 'ranking', *argv, '--out',
                     str(tmp_path / 'x.png')]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0]
