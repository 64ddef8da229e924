import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from hcdc_graph.image.condense import (CondensedImages, DCCondenser,
                                       RandomImageCondenser, normalize)
from hcdc_graph.image.datasets import ImageDataset
from hcdc_graph.image.evaluation import (correlation_beyond_parameter_count,
                                         parameter_count_correlation,
                                         parameter_counts,
                                         rank_correlation)
from hcdc_graph.image.hcdc import HCDCImageCondenser
from hcdc_graph.image.convnet import ConvNet
from hcdc_graph.io import CondensedFileError
from hcdc_graph.matching import gradient_distance


@pytest.fixture(scope='module')
def images():
    # 3 classes, 40 training images each: a class-dependent colour plus noise
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(40)
    colour = torch.tensor([[200, 40, 40], [40, 200, 40], [40, 40, 200]])
    x = colour[y].view(-1, 3, 1, 1) + 40 * torch.randn(120, 3, 32, 32,
                                                       generator=gen)
    x = x.clamp(0, 255).to(torch.uint8)
    return ImageDataset(x, y, x[:30], y[:30], ('r', 'g', 'b'))


def test_random_condenser(images):
    c = RandomImageCondenser(images, ipc=2, val_ipc=3, seed=0,
                             real_val_size=30, progress=False)
    out = c.fit()
    assert out.train_x.shape == (6, 3, 32, 32) and out.val_x.shape == \
        (9, 3, 32, 32)
    assert out.train_y.tolist() == [0, 0, 1, 1, 2, 2]
    assert out.meta['method'] == 'random' and out.meta['condense_seconds'] \
        >= 0
    # validation images come from the held-out part, training ones not
    held_out = normalize(images.train_x[c.val_index])
    rest = normalize(images.train_x[c.train_index])
    assert all((held_out == v).flatten(1).all(1).any() for v in out.val_x)
    assert all((rest == t).flatten(1).all(1).any() for t in out.train_x)
    again = RandomImageCondenser(images, ipc=2, val_ipc=3, seed=0,
                                 real_val_size=30, progress=False).fit()
    assert torch.equal(again.val_x, out.val_x)
    with pytest.raises(ValueError, match='ipc'):
        RandomImageCondenser(images, ipc=0)
    with pytest.raises(ValueError, match='fewer than'):
        RandomImageCondenser(images, ipc=30, val_ipc=30, real_val_size=30)
    with pytest.raises(ValueError, match='real_val_size'):
        RandomImageCondenser(images, ipc=2, val_ipc=3, real_val_size=6)


def matching_distance(images, condenser, out, nets=5):
    """Mean over fresh ConvNets of the per-class gradient distance between
    all real training images of a class and the condensed images."""
    xs = torch.cat([out.train_x, out.val_x])
    ys = torch.cat([out.train_y, out.val_y])
    real = normalize(images.train_x[condenser.train_index])
    ry = images.train_y[condenser.train_index]
    total = 0.0
    for seed in range(nets):
        torch.manual_seed(100 + seed)
        net = ConvNet(3, width=8)
        params = list(net.parameters())
        for k in range(3):
            g_real = torch.autograd.grad(F.cross_entropy(
                net(real[ry == k]), ry[ry == k]), params)
            g_syn = torch.autograd.grad(F.cross_entropy(
                net(xs[ys == k]), ys[ys == k]), params)
            total += float(gradient_distance(g_real, g_syn)) / nets
    return total


def test_dc_lowers_the_matching_distance(images):
    dc = DCCondenser(images, ipc=2, val_ipc=1, seed=0, progress=False,
                     real_val_size=30, iterations=10, real_batch=16, width=8,
                     outer_loop=3, inner_loop=2)
    out = dc.fit()
    random = RandomImageCondenser(images, ipc=2, val_ipc=1, seed=0,
                                  real_val_size=30, progress=False)
    # the learned images match real gradients better than real images do,
    # measured on networks DC never saw
    assert matching_distance(images, dc, out) < 0.95 * matching_distance(
        images, random, random.fit())
    assert out.train_x.shape == (6, 3, 32, 32) and out.val_x.shape == \
        (3, 3, 32, 32)
    assert len(dc.loss_history_) == 10
    with pytest.raises(ValueError, match='distance'):
        DCCondenser(images, ipc=2, real_val_size=30, distance='l1')


def test_save_load_and_corrupt_file(images, tmp_path):
    out = RandomImageCondenser(images, ipc=1, seed=0, real_val_size=30,
                               progress=False).fit()
    out.save(tmp_path / 'c.pt')
    back = CondensedImages.load(tmp_path / 'c.pt')
    assert torch.equal(back.val_x, out.val_x) and back.meta == out.meta
    (tmp_path / 'bad.pt').write_bytes((tmp_path / 'c.pt').read_bytes()[:64])
    with pytest.raises(CondensedFileError, match='not a readable'):
        CondensedImages.load(tmp_path / 'bad.pt')


def test_hcdc_image_aligns_hypergradients(images):
    s_train = RandomImageCondenser(images, ipc=2, val_ipc=0, seed=0,
                                   real_val_size=30, progress=False).fit()
    hcdc = HCDCImageCondenser(images, ipc=2, val_ipc=2, seed=0,
                              real_val_size=30, progress=False, train_images=s_train, C=2,
                              num_archs=2, trajectory_steps=1, epochs=6,
                              points_per_step=4, train_steps=30,
                              real_val_batch=12, neumann_steps=3,
                              lr_images=0.005, temperature=1.0)
    out = hcdc.fit()
    assert torch.equal(out.train_x, s_train.train_x)
    assert out.val_x.shape == (6, 3, 32, 32)
    assert hcdc.loss_history_[-1] < 0.5 * hcdc.loss_history_[0]
    with pytest.raises(ValueError, match='val_ipc'):
        HCDCImageCondenser(images, ipc=2, val_ipc=0, real_val_size=30)


def test_rank_correlation_is_resumable(images, tmp_path):
    condensed = RandomImageCondenser(images, ipc=2, seed=0,
                                     real_val_size=30, progress=False).fit()
    truth = torch.linspace(50, 90, 15625)
    archs = [0, 6111, 15624]
    result = rank_correlation(condensed, archs, truth, epochs=2, C=2,
                              out_dir=str(tmp_path))
    assert -1 <= result.spearman <= 1 and len(result.table) == 3
    assert 0 <= result.spearman_pvalue <= 1
    assert result.best_sampled == pytest.approx(float(truth[15624]))
    assert result.perf in [float(truth[i]) for i in archs]
    # rerun reads the files: tamper with one and see it used
    path = tmp_path / '0.json'
    row = json.loads(path.read_text())
    row['val_acc'] = 2.0
    path.write_text(json.dumps(row))
    again = rank_correlation(condensed, archs, truth, epochs=2, C=2,
                             out_dir=str(tmp_path))
    assert again.perf == pytest.approx(float(truth[0]))
    with pytest.raises(ValueError, match='made with'):
        rank_correlation(condensed, archs, truth, epochs=3, C=2,
                         out_dir=str(tmp_path))


def test_parameter_count_correlation():
    from hcdc_graph.image.nasbench201 import arch_to_index
    cells = ['|none~0|+|none~0|none~1|+|none~0|none~1|none~2|',
             '|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|',
             '|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|',
             '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+'
             '|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|']
    archs = [arch_to_index(c) for c in cells]  # more weights, one by one
    truth = torch.zeros(15625)
    truth[archs] = torch.tensor([60.0, 70.0, 80.0, 90.0])
    result = parameter_count_correlation(archs, truth, C=2)
    assert result['spearman'] == pytest.approx(1.0)
    assert result['kendall'] == pytest.approx(1.0)
    truth[archs] = torch.tensor([90.0, 80.0, 70.0, 60.0])
    assert parameter_count_correlation(archs, truth, C=2)['spearman'] == \
        pytest.approx(-1.0)
    with pytest.raises(ValueError, match='at least 3'):
        parameter_count_correlation(archs[:2], truth)


def test_correlation_beyond_parameter_count():
    from hcdc_graph.image.nasbench201 import sample_architectures
    archs = sample_architectures(12, 0)
    counts = parameter_counts(archs, C=2)
    assert len(set(counts.tolist())) > 3  # sizes that differ
    other = np.arange(12.0)  # a ranking unrelated to size
    truth = torch.zeros(15625)
    truth[archs] = torch.from_numpy(stats.rankdata(counts) + other).float()
    # a condensed ranking that sees exactly what the truth has beyond size
    assert correlation_beyond_parameter_count(other, archs, truth, C=2) \
        > 0.8
    # one that only follows size: nothing beyond it
    assert np.isnan(correlation_beyond_parameter_count(
        stats.rankdata(counts), archs, truth, C=2))
    with pytest.raises(ValueError, match='one rank per'):
        correlation_beyond_parameter_count(other[:5], archs, truth, C=2)
    with pytest.raises(ValueError, match='at least 4'):
        correlation_beyond_parameter_count(other[:3], archs[:3], truth, C=2)


def test_dc_resumes_from_its_checkpoint(images, tmp_path, monkeypatch):
    options = dict(ipc=2, val_ipc=1, seed=0, progress=False, real_val_size=30,
                   iterations=8, real_batch=16, width=8, outer_loop=2,
                   inner_loop=1)
    full = DCCondenser(images, **options).fit()
    path = tmp_path / 'dc.pt'
    crashing = DCCondenser(images, checkpoint=str(path), **options)
    save, calls = DCCondenser.save_state, []

    def save_then_crash(self, state):
        save(self, state)
        calls.append(state['iteration'])
        if len(calls) == 4:
            raise KeyboardInterrupt  # as if the process died here
    monkeypatch.setattr(DCCondenser, 'save_state', save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    monkeypatch.undo()
    assert path.exists()
    resumed = DCCondenser(images, checkpoint=str(path), **options)
    out = resumed.fit(resume=True)
    assert torch.equal(out.train_x, full.train_x)
    assert torch.equal(out.val_x, full.val_x)
    assert len(resumed.loss_history_) == 8 and not path.exists()
