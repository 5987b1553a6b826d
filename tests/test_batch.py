"""Batches of `image` and `video`: folders, quoted glob patterns and several inputs into an
output folder; what fails is listed one line each, exit status 2, and the rest still written."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import assert_clean_error, make_clip, probe, run_cli


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _photos(folder: Path) -> Path:
    """Two good pictures and the bad ones a real folder holds: corrupt, empty, not an image."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "a.png"), rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "b.jpg"), rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not a picture\n")
    return folder


def _failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("stylestream: error:")]


def test_image_batch_writes_the_good_and_lists_the_bad(tmp_path, tiny_models):
    photos = _photos(tmp_path / "photos")
    before = _digests(photos)
    out = tmp_path / "styled"
    # A folder (its pictures: not notes.txt), a quoted pattern (everything it matches) and a missing file.
    proc = run_cli("image", photos, str(photos / "*.txt"), tmp_path / "missing.png", "-o", out,
                   "--style", tiny_models["onnx"])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    failures = _failure_lines(proc.stderr)
    assert len(failures) == 4, proc.stderr
    for name in ("corrupt.jpg", "empty.png", "notes.txt", "missing.png"):
        assert sum(name in line for line in failures) == 1, (name, failures)
    assert "4 of 6 images failed" in proc.stderr.splitlines()[-1]
    assert sorted(p.name for p in out.iterdir()) == ["a.tiny.png", "b.tiny.jpg"]     # stem kept, type kept
    assert cv2.imread(str(out / "a.tiny.png")).shape == (40, 60, 3)
    assert cv2.imread(str(out / "b.tiny.jpg")).shape == (30, 50, 3)
    assert _digests(photos) == before                       # inputs untouched, nothing written beside them
    assert proc.stdout.splitlines() == [f"{photos / 'a.png'} -> {out / 'a.tiny.png'}",
                                        f"{photos / 'b.jpg'} -> {out / 'b.tiny.jpg'}"]


def test_image_batch_of_good_files_succeeds_and_a_rerun_skips_its_own_outputs(tmp_path, tiny_models):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("x.png", "y.png"):
        cv2.imwrite(str(photos / name), np.full((20, 28, 3), 90, np.uint8))
    proc = run_cli("image", photos, "--style", tiny_models["onnx"], "--json")     # beside each input
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["failed"] == []
    assert sorted(p.name for p in photos.iterdir()) == ["x.png", "x.tiny.png", "y.png", "y.tiny.png"]
    proc = run_cli("image", photos, "--style", tiny_models["onnx"], "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["images"]) == 2          # not x.tiny.tiny.png
    assert len(list(photos.iterdir())) == 4


def test_image_batch_progress_is_one_bar_over_the_batch(tmp_path, tiny_models):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        cv2.imwrite(str(photos / f"{i}.png"), np.full((16, 16, 3), 40 * i, np.uint8))
    shown = run_cli("image", photos, "-o", tmp_path / "o", "--style", tiny_models["onnx"],
                    env={"STYLESTREAM_NO_PROGRESS": "0"})
    assert shown.returncode == 0, shown.stderr
    assert "/3 [" in shown.stderr and "image/s" in shown.stderr        # one bar, counting pictures
    quiet = run_cli("image", photos, "-o", tmp_path / "q", "--style", tiny_models["onnx"], "--no-progress",
                    env={"STYLESTREAM_NO_PROGRESS": "0"})
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


@pytest.mark.parametrize("output, needle", [("noext", "no suffix"), ("batch.png", None)])
def test_image_output_names(tmp_path, tiny_models, output, needle):
    """One picture to a name without a suffix is an error, not a silent folder; a batch into a
    name that looks like a picture is refused before anything is written."""
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.zeros((8, 8, 3), np.uint8))
    inputs = [photos / "a.png"] if needle else [photos]
    proc = run_cli("image", *inputs, "-o", tmp_path / output, "--style", tiny_models["onnx"])
    assert_clean_error(proc, needle or "folder")
    assert not (tmp_path / output).exists()


def test_image_into_a_folder_named_with_a_slash(tmp_path, tiny_models):
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), np.zeros((8, 8, 3), np.uint8))
    proc = run_cli("image", src, "-o", f"{tmp_path / 'new'}/", "--style", tiny_models["onnx"])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "new" / "a.tiny.png").is_file()


def test_a_pattern_or_folder_with_nothing_in_it_is_one_error(tmp_path, tiny_models):
    (tmp_path / "empty").mkdir()
    assert_clean_error(run_cli("image", tmp_path / "empty", "--style", tiny_models["onnx"]), "no images")
    assert_clean_error(run_cli("video", str(tmp_path / "*.mp4"), tmp_path / "out", "--style", tiny_models["onnx"]),
                       "matches no file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_video_batch_writes_the_good_and_lists_the_bad(tmp_path, tiny_models):
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip(clips / "one.mp4", frames=5)
    make_clip(clips / "two.mkv", frames=3, audio=True)
    rng = np.random.default_rng(1)
    (clips / "corrupt.mp4").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (clips / "empty.mov").write_bytes(b"")
    (clips / "readme.txt").write_text("not a video\n")        # not a video suffix: the folder leaves it out
    before = _digests(clips)
    out = tmp_path / "styled"
    proc = run_cli("video", clips, tmp_path / "gone.mp4", out, "--style", tiny_models["onnx"], "--json")
    assert proc.returncode == 2, proc.stderr
    failures = _failure_lines(proc.stderr)
    assert len(failures) == 3, proc.stderr
    for name in ("corrupt.mp4", "empty.mov", "gone.mp4"):
        assert sum(name in line for line in failures) == 1, (name, failures)
    assert "3 of 5 videos failed" in proc.stderr
    summary = json.loads(proc.stdout)
    assert [Path(v["output"]).name for v in summary["videos"]] == ["one.tiny.mp4", "two.tiny.mkv"]
    assert sorted(p.name for p in out.iterdir()) == ["one.tiny.mp4", "two.tiny.mkv"]    # no temporaries left
    assert probe(out / "one.tiny.mp4")["frames"] == 5
    two = probe(out / "two.tiny.mkv")
    assert two["frames"] == 3 and two["audio_packets"]
    assert _digests(clips) == before


def test_video_batch_output_must_be_a_folder(tmp_path, tiny_models):
    make_clip(tmp_path / "a.mp4", frames=2)
    make_clip(tmp_path / "b.mp4", frames=2)
    proc = run_cli("video", tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "out.mp4", "--style", tiny_models["onnx"])
    assert_clean_error(proc, "folder")
    assert not (tmp_path / "out.mp4").exists()


def test_single_video_into_a_folder(tmp_path, tiny_models):
    make_clip(tmp_path / "a.mp4", frames=2)
    (tmp_path / "out").mkdir()
    proc = run_cli("video", tmp_path / "a.mp4", tmp_path / "out", "--style", tiny_models["onnx"])
    assert proc.returncode == 0, proc.stderr
    assert probe(tmp_path / "out" / "a.tiny.mp4")["frames"] == 2


def test_api_batches(tmp_path, tiny_models):
    import stylestream

    photos = _photos(tmp_path / "photos")
    s = stylestream.images(photos, tmp_path / "out", style=tiny_models["onnx"], device="cpu")
    assert [Path(r["output"]).name for r in s["images"]] == ["a.tiny.png", "b.tiny.jpg"]
    assert sorted(Path(f["input"]).name for f in s["failed"]) == ["corrupt.jpg", "empty.png"]
    with pytest.raises(stylestream.UserError, match="empty file"):     # one file: its failure is the call's
        stylestream.images(photos / "empty.png", tmp_path / "e.png", style=tiny_models["onnx"])

    make_clip(tmp_path / "c.mp4", frames=2)
    v = stylestream.videos([tmp_path / "c.mp4", tmp_path / "absent.mp4"], tmp_path / "vids",
                           style=tiny_models["onnx"], device="cpu", temporal=None)
    assert [Path(x["output"]).name for x in v["videos"]] == ["c.tiny.mp4"] and v["frames"] == 2
    assert [Path(f["input"]).name for f in v["failed"]] == ["absent.mp4"]
