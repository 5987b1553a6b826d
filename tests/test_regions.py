"""Region stylization (stylestream.regions): the style on the person or the background only,
two styles, a user's mask, and a person mask kept stable by the style blend's optical flow."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import SHARED, assert_clean_error, make_clip, probe, run_cli, write_frames
from stylestream import api
from stylestream.errors import UserError
from stylestream.regions import MaskTracker, compose, seam_weight
from stylestream.temporal.cpu import CpuTemporal

PORTRAIT = SHARED / "content" / "train_extra" / "cnnmrf_potrait1.jpg"
STYLE, OTHER_STYLE = "candy", "mosaic"      # the zoo's compact nets: fast on the CPU


def gradient(height: int = 72, width: int = 128, shift: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([(xx * 2 + shift) % 256, yy * 255 // height, (xx + yy) % 256], -1).astype(np.uint8)


def person_clip(frames: int = 16, width: int = 256, height: int = 144, step: int = 5):
    """The shared portrait pasted over a textured background, moving `step` px right a frame."""
    if not PORTRAIT.exists():
        pytest.skip(f"needs the shared data set ({PORTRAIT} is absent)")
    portrait = cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)
    person = cv2.resize(portrait, (90, 120), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(3)
    background = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), np.uint8), (0, 0), 2)
    out = []
    for i in range(frames):
        frame = background.copy()
        x = 30 + step * i
        frame[height - 120:, x:x + 90] = person
        out.append(frame)
    return out


# -- composition ---------------------------------------------------------------------------------

def test_seam_weight_is_exact_away_from_the_seam_and_soft_across_it():
    mask = np.zeros((40, 80), np.float32)
    mask[:, 40:] = 1.0
    weight = seam_weight(mask, 80, 40, feather=4.0)
    assert (weight[:, :33] == 0).all() and (weight[:, 47:] == 1).all()
    ramp = weight[20, 33:47]
    assert (np.diff(ramp) >= 0).all() and 0.3 < weight[20, 40] < 0.7
    assert (seam_weight(mask, 80, 40, feather=0)[:, 40:] == 1).all()
    # Inverted for the background; resized to the output.
    assert (seam_weight(mask, 160, 80, 4.0, invert=True)[:, :60] == 1).all()


def test_compose_gives_each_side_exactly():
    a, b = gradient(), gradient(shift=100)
    weight = np.zeros(a.shape[:2], np.float32)
    weight[:, 64:] = 1
    out = compose(a, b, weight)
    assert np.array_equal(out[:, 64:], a[:, 64:]) and np.array_equal(out[:, :64], b[:, :64])


# -- the mask's stability -------------------------------------------------------------------------

def disc_scene(width: int, height: int, seed: int = 0):
    """A textured disc on a textured background, and its mask."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), np.uint8), (0, 0), 1.5)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), np.uint8), (0, 0), 1.5)
    mask = np.zeros((height, width), np.float32)
    cv2.circle(mask, (width // 2, height // 2), 25, 1.0, -1)
    return np.where(mask[..., None] > 0, texture, background), cv2.GaussianBlur(mask, (0, 0), 1.0)


def seam_change(masks: list[np.ndarray], truth: list[np.ndarray], shift: int) -> float:
    """Mean |mask_t − mask_{t−1} moved by the true motion (`shift` px right)| near the true seam."""
    changes = []
    for t in range(2, len(masks)):
        band = (truth[t] > 0.02) & (truth[t] < 0.98)
        band = cv2.dilate(band.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        moved = np.roll(masks[t - 1], shift, axis=1)
        changes.append(np.abs(masks[t] - moved)[band].mean())
    return float(np.mean(changes))


def jittered(masks: list[np.ndarray], pixels: float = 1.5, seed: int = 1) -> list[np.ndarray]:
    """Masks whose seam trembles by up to `pixels` each frame, as a net's does."""
    rng = np.random.default_rng(seed)
    return [cv2.warpAffine(m, np.float32([[1, 0, rng.uniform(-pixels, pixels)], [0, 1, rng.uniform(-pixels, pixels)]]),
                           (m.shape[1], m.shape[0])) for m in masks]


def test_flow_stabilised_masks_tremble_less_than_noisy_per_frame_ones():
    """A camera panning over a scene: per-frame masks whose seam jitters, warped along the
    frames' real flow and blended, change far less from frame to frame, and keep up with the
    motion."""
    step, count = 3, 14
    scene, scene_mask = disc_scene(200, 96)
    frames = [np.roll(scene, step * i, axis=1)[:, 20:180] for i in range(count)]
    truth = [np.roll(scene_mask, step * i, axis=1)[:, 20:180] for i in range(count)]
    noisy = jittered(truth)
    temporal, tracker = CpuTemporal(), MaskTracker()
    stable = [tracker.stabilize(m, temporal.estimate(f)) for m, f in zip(noisy, frames)]
    assert tracker.stabilized_frames == count - 1
    assert seam_change(stable, truth, step) < 0.5 * seam_change(noisy, truth, step)
    xs = np.arange(truth[0].shape[1])
    for m, t in zip(stable[-3:], truth[-3:]):
        assert abs((m.sum(0) * xs).sum() / m.sum() - (t.sum(0) * xs).sum() / t.sum()) < 1.5


def test_where_the_flow_is_not_trusted_the_new_mask_wins():
    """A disc moving over a still background: its seam is a motion boundary the consistency
    rule distrusts, so the mask there is the new one, and no ghost trails the disc."""
    step, count = 6, 10
    scene, scene_mask = disc_scene(200, 96)
    background = disc_scene(200, 96, seed=5)[0]
    truth = [np.roll(scene_mask, step * i - 60, axis=1) for i in range(count)]
    frames = [np.where(t[..., None] > 0.5, np.roll(scene, step * i - 60, axis=1), background)
              for i, t in enumerate(truth)]
    temporal, tracker = CpuTemporal(), MaskTracker()
    stable = [tracker.stabilize(m, temporal.estimate(f)) for m, f in zip(truth, frames)]
    for t in range(3, count):
        left_behind = (truth[t] < 0.1) & (truth[t - 1] > 0.9)
        assert left_behind.sum() > 20 and stable[t][left_behind].mean() < 0.15


def test_no_motion_or_a_cut_gives_the_new_mask():
    tracker = MaskTracker()
    a, b = np.zeros((8, 8), np.float32), np.ones((8, 8), np.float32)
    assert tracker.stabilize(a, None) is a and tracker.stabilize(b, None) is b
    assert tracker.stabilized_frames == 0


def test_stabilised_person_mask_flickers_less_than_the_nets_per_frame_mask():
    """The real net on a portrait in a camera pan: the seam's frame-to-frame change, after
    moving the previous mask by the known motion, is lower with the flow's help."""
    step = 3
    wide = person_clip(frames=1, width=300)[0]
    frames = [np.roll(wide, step * i, axis=1)[:, 20:276] for i in range(14)]
    temporal, stable_tracker, plain_tracker = CpuTemporal(), MaskTracker(), MaskTracker(stabilized=False)
    stable, plain = [], []
    for frame in frames:
        motion = temporal.estimate(frame)
        raw = stable_tracker.segment(frame)
        stable.append(cv2.resize(stable_tracker.stabilize(raw, motion), (256, 144)))
        plain.append(cv2.resize(plain_tracker.stabilize(raw, motion), (256, 144)))
    truth = [cv2.GaussianBlur((p > 0.5).astype(np.float32), (0, 0), 2.0) for p in plain]
    assert seam_change(stable, truth, step) < 0.7 * seam_change(plain, truth, step)
    assert stable_tracker.describe()["model"] == "selfie_segmentation_landscape"


# -- the Python API --------------------------------------------------------------------------------

def smooth_scene(shift: int, height: int = 72, width: int = 128) -> np.ndarray:
    """A smooth gradient in which the net sees no person at all (its mask is 0 everywhere)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 200 // width + shift, yy * 255 // height, np.full_like(xx, 90)], -1).astype(np.uint8)


def test_person_region_without_a_person_leaves_the_frames_as_they_are():
    frames = [smooth_scene(4 * i) for i in range(3)]
    with api.open(STYLE, region="person") as person, api.open(STYLE, region="background") as room, \
            api.open(STYLE) as plain:
        for frame in frames:
            assert np.array_equal(person(frame), frame)
            # No person: the background is the whole frame, stylized as without regions.
            assert np.array_equal(room(frame), plain(frame))
    assert person.regions.tracker.describe()["frames"] == 3


def test_region_options_are_checked_with_the_options_they_name():
    with pytest.raises(UserError, match="--region"):
        api.open(STYLE, region="face")
    with pytest.raises(UserError, match="exclude"):
        api.RegionOptions(region="person", background_style=OTHER_STYLE)
    with pytest.raises(UserError, match="exclude"):
        api.RegionOptions(region="person", mask="m.png")
    with pytest.raises(UserError, match="--feather"):
        api.RegionOptions(feather=-1)


# -- the command line on video ---------------------------------------------------------------------

def test_video_region_and_background_style_report_the_mask(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=96, height=64, frames=6)
    for extra in (["--region", "background"], ["--background-style", OTHER_STYLE, "--feather", "0"]):
        out = tmp_path / f"out{len(extra)}.mp4"
        proc = run_cli("video", clip, out, "--style", STYLE, "--json", *extra)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        seg = summary["regions"]["segmentation"]
        assert seg["model"].startswith("selfie_segmentation") and seg["frames"] == 6 and seg["ms_per_frame"] > 0
        assert seg["stabilized_frames"] >= 1
        assert probe(out)["frames"] == 6
    assert summary["regions"]["background_style"] == OTHER_STYLE and summary["regions"]["feather"] == 0


def test_region_on_a_person_video_keeps_the_person_near_the_source(tmp_path):
    frames = person_clip(frames=8)
    clip = write_frames(tmp_path / "person.mp4", frames)
    plain, person = tmp_path / "plain.mp4", tmp_path / "person_only.mp4"
    assert run_cli("video", clip, plain, "--style", STYLE).returncode == 0
    proc = run_cli("video", clip, person, "--style", STYLE, "--region", "background")
    assert proc.returncode == 0, proc.stderr
    from stylestream.evaluate import video_frames
    out, styled = list(video_frames(str(person))), list(video_frames(str(plain)))
    x = 30 + 5 * 7
    face = (slice(144 - 90, 144 - 40), slice(x + 25, x + 65))    # the middle of the portrait in frame 7
    corner = (slice(0, 20), slice(200, 256))                      # background far from the person
    diff = lambda a, b: np.abs(a.astype(int) - b.astype(int)).mean()  # noqa: E731
    # The person: the source within the encoder's error (crf 18), far from the plain stylization.
    assert diff(out[7][face], frames[7][face]) < min(6, 0.2 * diff(styled[7][face], frames[7][face]))
    assert diff(out[7][corner], styled[7][corner]) < 3


@pytest.mark.parametrize("args,needle", [
    (["--region", "face"], "invalid choice"),
    (["--region", "person", "--background-style", OTHER_STYLE], "exclude"),
    (["--feather", "-2"], "--feather"),
    (["--background-style", "no_such_style"], "unknown style"),
])
def test_bad_region_options_fail_with_one_line(tmp_path, args, needle):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    out = tmp_path / "out.mp4"
    assert_clean_error(run_cli("video", clip, out, "--style", STYLE, *args), needle)
    assert not out.exists()


# -- images and --mask ----------------------------------------------------------------------------

def write_png(path, rgb: np.ndarray):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    return path


def half_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 2] = 255
    return mask


def read_rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("suffix,tolerance", [(".png", 0), (".jpg", 4)])
def test_known_mask_keeps_the_source_outside_and_the_style_inside(tmp_path, suffix, tolerance):
    photo = gradient(64, 96)
    src = write_png(tmp_path / "photo.png", photo)
    # A mask of another size (half) is resized to the picture.
    for name, mask in (("full", half_mask(64, 96)), ("half", half_mask(32, 48))):
        mask_path = write_png(tmp_path / f"{name}.png", mask)
        out, plain = tmp_path / f"out_{name}{suffix}", tmp_path / f"plain{suffix}"
        proc = run_cli("image", src, "-o", out, "--style", STYLE, "--mask", mask_path, "--feather", "2", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["regions"]["mask"] == "file"
        assert run_cli("image", src, "-o", plain, "--style", STYLE).returncode == 0
        got, styled = read_rgb(out).astype(int), read_rgb(plain).astype(int)
        # σ = 1 px: 3 px past the seam the weight is exactly 0 (right) or 1 (left).
        outside, inside = (slice(None), slice(52, None)), (slice(None), slice(None, 44))
        if tolerance == 0:
            assert np.array_equal(got[outside], photo[outside])
            assert np.array_equal(got[inside], styled[inside])
        else:   # JPEG: within the encoder's error
            assert np.abs(got[outside] - photo[outside]).mean() < tolerance
            assert np.abs(got[inside] - styled[inside]).mean() < tolerance
        assert np.abs(styled[outside] - photo[outside]).mean() > 10      # the style does change it


def test_image_background_style_and_region(tmp_path):
    src = write_png(tmp_path / "photo.png", gradient(64, 96))
    mask = write_png(tmp_path / "mask.png", half_mask(64, 96))
    two = tmp_path / "two.png"
    assert run_cli("image", src, "-o", two, "--style", STYLE, "--mask", mask, "--background-style", OTHER_STYLE,
                   "--feather", "0").returncode == 0
    other = tmp_path / "other.png"
    assert run_cli("image", src, "-o", other, "--style", OTHER_STYLE).returncode == 0
    assert np.array_equal(read_rgb(two)[:, 60:], read_rgb(other)[:, 60:])
    # No person in the gradient: --region person leaves it as it is.
    person = tmp_path / "person.png"
    proc = run_cli("image", write_png(tmp_path / "scene.png", smooth_scene(0)), "-o", person, "--style", STYLE,
                   "--region", "person", "--json")
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(read_rgb(person), smooth_scene(0))
    assert json.loads(proc.stdout)["regions"]["segmentation"]["model"] == "selfie_segmentation_landscape"


@pytest.mark.parametrize("make,needle", [
    (lambda d: d / "absent.png", "not found"),
    (lambda d: (d / "notes.png").write_text("not a picture") and d / "notes.png", "not a readable image"),
    (lambda d: (d / "empty.png").write_bytes(b"") or d / "empty.png", "empty"),
])
def test_bad_mask_files_fail_with_one_line(tmp_path, make, needle):
    src = write_png(tmp_path / "photo.png", gradient(32, 48))
    out = tmp_path / "out.png"
    assert_clean_error(run_cli("image", src, "-o", out, "--style", STYLE, "--mask", make(tmp_path)), needle)
    assert not out.exists()


def test_mask_with_region_or_optimize_is_refused(tmp_path):
    src = write_png(tmp_path / "photo.png", gradient(32, 48))
    mask = write_png(tmp_path / "mask.png", half_mask(32, 48))
    assert_clean_error(run_cli("image", src, "--style", STYLE, "--mask", mask, "--region", "person"), "exclude")
    assert_clean_error(run_cli("image", src, "--optimize", "--style-image", src, "--mask", mask), "--optimize")
    # The mask is an input: an output may not overwrite it.
    assert_clean_error(run_cli("image", src, "-o", mask, "--style", STYLE, "--mask", mask))


# -- webcam -----------------------------------------------------------------------------------------

def test_webcam_with_two_styles_records_and_reports_the_mask(tmp_path):
    """A video file as the camera: every frame goes through the live stylizer's mask and
    composition, and the recording holds them."""
    camera = make_clip(tmp_path / "cam.mp4", width=96, height=64, frames=8)
    out = tmp_path / "rec.mp4"
    proc = run_cli("webcam", "--camera", camera, "--style", STYLE, "--background-style", OTHER_STYLE,
                   "--no-window", "--record", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    seg = summary["regions"]["segmentation"]
    assert seg["frames"] == summary["frames"] > 0 and summary["regions"]["background_style"] == OTHER_STYLE
    assert probe(out)["frames"] == summary["recorded_frames"] > 0
    assert_clean_error(run_cli("webcam", "--camera", camera, "--style", STYLE, "--region", "person",
                               "--background-style", OTHER_STYLE, "--no-window", "--seconds", "1"), "exclude")
