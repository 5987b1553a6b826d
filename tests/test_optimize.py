"""`image --optimize`: the balance knob's ends, its validation, and the progress bar over the
steps of every scale, also when the time budget cuts a scale short."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from conftest import VGG_WEIGHTS, assert_clean_error, needs_vgg, run_cli


def _photo(path, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0))
    return path


def _painting(path):
    yy, xx = np.mgrid[0:48, 0:48]
    cv2.imwrite(str(path), np.stack([(xx * 16) % 256, (yy * 16) % 256, ((xx + yy) * 8) % 256], -1).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def vgg():
    from stylenets.perceptual import VGGFeatures, load_vgg16_features

    return VGGFeatures(load_vgg16_features(VGG_WEIGHTS))


def _tensors(tmp_path):
    to_t = lambda p: torch.from_numpy(cv2.imread(str(p))[..., ::-1].copy()).permute(2, 0, 1).float().div(255)[None]  # noqa: E731
    return to_t(_photo(tmp_path / "photo.png", 40, 48)), to_t(_painting(tmp_path / "painting.png"))


@needs_vgg
def test_balance_zero_keeps_the_photo_and_more_balance_paints_more(tmp_path, vgg):
    from stylenets.gatys import GatysConfig, optimize
    from stylenets.perceptual import style_distances

    content, style = _tensors(tmp_path)
    scores = {}
    for balance in (0.0, 0.2, 0.8):
        out = optimize(content, style, vgg, GatysConfig(balance=balance, steps=(8, 8)))
        assert out.shape == content.shape
        scores[balance] = style_distances(vgg, out, content, style)
    assert scores[0.0]["content"] < 0.1, scores[0.0]        # the photo, but for the coarse scale's blur
    assert scores[0.8]["style"] < 0.9 * scores[0.2]["style"], scores
    assert scores[0.8]["content"] > scores[0.2]["content"] > scores[0.0]["content"], scores


def test_balance_weights_span_photo_to_texture():
    from stylenets.gatys_defaults import balance_weights

    assert balance_weights(0.0)[1] == 0 and balance_weights(1.0)[0] == 0
    with pytest.raises(ValueError, match="balance"):
        balance_weights(1.5)


@pytest.mark.parametrize("args, needle", [
    (("--balance", "1.5"), "--balance"),
    (("--balance", "-0.1"), "--balance"),
    (("--balance", "nan"), "--balance"),
    (("--steps", "3", "2", "1"), "--steps"),
    (("--steps", "0"), "--steps"),
    (("--max-minutes", "0"), "--max-minutes"),
])
def test_bad_optimize_options_are_one_line(tmp_path, args, needle):
    src, style = _photo(tmp_path / "a.png"), _painting(tmp_path / "s.png")
    proc = run_cli("image", src, "--optimize", "--style-image", style, "-o", tmp_path / "o.png", *args)
    assert_clean_error(proc, needle)
    assert not (tmp_path / "o.png").exists()


def test_steps_follow_the_scales():
    from stylenets.gatys_defaults import DEFAULT_SCALES, DEFAULT_STEPS
    from stylestream.api import optimize_steps

    assert optimize_steps(None, DEFAULT_SCALES) == DEFAULT_STEPS
    assert optimize_steps(None, (1.0,)) == (DEFAULT_STEPS[-1],)
    assert optimize_steps(7, (0.25, 0.5, 1.0)) == (7, 7, 7)
    assert optimize_steps([5], (0.5, 1.0)) == (5, 5)
    assert optimize_steps([5, 3], (0.5, 1.0)) == (5, 3)


class _Bar:
    """Stands in for the tqdm bar: records its total and where it ended."""
    made: list = []

    def __init__(self, total, enabled, unit="frame"):
        self.total, self.n = total, 0
        _Bar.made.append(self)

    def update(self, k):
        self.n += k

    def close(self):
        pass


@needs_vgg
@pytest.mark.parametrize("max_seconds", [None, 1e-3])
def test_the_bar_counts_every_scale_to_its_total(tmp_path, monkeypatch, max_seconds):
    """The bar's total is the sum of the steps of the scales and it ends there, also when the
    time budget stops a picture early (the best image so far is written)."""
    from stylestream.jobs import images

    monkeypatch.setattr(images, "progress_bar", _Bar)
    _Bar.made.clear()
    src, style = _photo(tmp_path / "a.png"), _painting(tmp_path / "s.png")
    s = images.optimize_images([str(src)], str(tmp_path / "o.png"), str(style), max_size=32, steps=(3, 2),
                               optimizer="lbfgs", scales=(0.5, 1.0), vgg_weights=str(VGG_WEIGHTS), device="cpu",
                               balance=0.5, max_seconds=max_seconds, progress=True)
    assert len(s["images"]) == 1 and (tmp_path / "o.png").is_file()
    (bar,) = _Bar.made
    assert bar.total == 5 and bar.n == 5
