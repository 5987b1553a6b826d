"""Hostile inputs, faults and signals: every one ends as exit 0 with the work saved, or exit 2
with one line, an existing output untouched and no temporary file left; never a native crash."""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import assert_clean_error, make_clip, probe, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from fuzz_corpus import CASES, PREVIOUS_OUTPUT, run_case, write_clip  # noqa: E402

PYTHON = sys.executable


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


# ------------------------------------------------------------ the input is never the output

def _same_file_names(tmp_path: Path, original: Path, how: str) -> Path:
    if how == "same":
        return original
    other = tmp_path / f"{how}{original.suffix}"
    os.symlink(original, other) if how == "symlink" else os.link(original, other)
    return other


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_image_refuses_to_overwrite_its_input(tmp_path, tiny_models, how):
    src = tmp_path / "self.png"
    cv2.imwrite(str(src), np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8))
    before = src.read_bytes()
    out = _same_file_names(tmp_path, src, how)
    assert_clean_error(run_cli("image", src, "-o", out, "--style", tiny_models["onnx"]), "overwrite")
    assert src.read_bytes() == before and not _partials(tmp_path)


def test_image_refuses_an_output_that_is_another_input(tmp_path, tiny_models):
    a, b = tmp_path / "a.png", tmp_path / "a.tiny.png"      # a.png's default output is b
    for p in (a, b):
        cv2.imwrite(str(p), np.full((20, 20, 3), 90, np.uint8))
    before = b.read_bytes()
    assert_clean_error(run_cli("image", a, b, "--style", tiny_models["onnx"]), "overwrite")
    assert b.read_bytes() == before


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_webcam_and_video_refuse_to_record_over_their_input(tmp_path, tiny_models, how):
    cam = make_clip(tmp_path / "cam.mp4", frames=6)
    before = cam.read_bytes()
    out = _same_file_names(tmp_path, cam, how)
    assert_clean_error(run_cli("webcam", "--camera", cam, "--no-window", "--record", out,
                               "--style", tiny_models["onnx"]), "overwrite")
    assert_clean_error(run_cli("video", cam, out, "--style", tiny_models["onnx"]), "overwrite")
    # The model file is an input too.
    model = tmp_path / "model.onnx"
    model.write_bytes(tiny_models["onnx"].read_bytes())
    assert_clean_error(run_cli("video", cam, model, "--style", model), "overwrite")
    assert cam.read_bytes() == before and not _partials(tmp_path)


# ------------------------------------------------------------ signals

def _wait_for_encoding(folder: Path, stem: str, min_bytes: int = 4096, timeout: float = 120) -> None:
    """Until the job's temporary output holds some muxed frames: a fixed sleep is either too
    short on a loaded machine or lets the job finish first on an idle one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in folder.glob(f".{stem}.partial-*") if p.exists()]
        if sizes and max(sizes) >= min_bytes:
            return
        time.sleep(0.02)
    raise AssertionError("the job never started encoding")


def test_second_sigint_during_the_finish_never_loses_the_file(tmp_path, tiny_models):
    """SIGINT, then another 0–150 ms later, during the final flush: the second used to raise
    KeyboardInterrupt inside the container's close (no file left), or kill the process
    while Python shut down (exit -2). Repeated at spread delays to land in every window."""
    src = make_clip(tmp_path / "long.mp4", width=160, height=120, frames=600, fps=25, audio=True)
    for i, gap in enumerate([0.0, 0.01, 0.03, 0.05, 0.08, 0.1, 0.12, 0.15]):
        out = tmp_path / f"o{i}.mp4"
        proc = subprocess.Popen([PYTHON, "-m", "stylestream", "video", str(src), str(out), "--style",
                                 str(tiny_models["onnx"]), "--json", "--no-progress"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_encoding(tmp_path, f"o{i}")
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, (gap, proc.returncode, stderr)
        s = json.loads(stdout)
        assert s["interrupted"] and 0 < s["frames"] < 600
        assert probe(out)["frames"] == s["frames"], gap
        assert not _partials(tmp_path), gap


def test_image_finishes_the_current_image_on_sigterm(tmp_path, tiny_models):
    rng = np.random.default_rng(0)
    inputs = []
    for i in range(150):
        inputs.append(tmp_path / f"in{i:03d}.png")
        cv2.imwrite(str(inputs[-1]), rng.integers(0, 256, (160, 200, 3), dtype=np.uint8))
    out = tmp_path / "out"
    proc = subprocess.Popen([PYTHON, "-m", "stylestream", "image", *map(str, inputs), "-o", str(out),
                             "--style", str(tiny_models["onnx"]), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and any(out.glob("*.png"))):
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    s = json.loads(stdout)
    assert s["interrupted"] and s["signal"] == "SIGTERM" and 0 < len(s["images"]) < 150
    written = sorted(out.iterdir())
    assert len(written) == len(s["images"]) and not _partials(out)
    for p in written:
        assert cv2.imread(str(p)).shape == (160, 200, 3)


# ------------------------------------------------------------ faults: one line, exit 2, nothing lost

@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs: where mounting is allowed (root, not in a locked-down container)."""
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_disk_full_keeps_the_previous_output(full_disk, tiny_models):
    src = make_clip(full_disk.parent / "big.mp4", width=320, height=240, frames=60, fps=25)
    out = full_disk / "out.mp4"
    out.write_bytes(PREVIOUS_OUTPUT)
    for _ in range(3):      # the crash this guards against (a thread left in a closed decoder) was 1 in 4
        proc = run_cli("video", src, out, "--style", tiny_models["onnx"], "--crf", "0", "--no-temporal")
        assert_clean_error(proc, "no space left")
        assert out.read_bytes() == PREVIOUS_OUTPUT and not _partials(full_disk)
    # An image too: the encoded PNG does not fit.
    img = full_disk.parent / "noise.png"
    cv2.imwrite(str(img), np.random.default_rng(1).integers(0, 256, (700, 700, 3), dtype=np.uint8))
    assert_clean_error(run_cli("image", img, "-o", full_disk / "o.png", "--style", tiny_models["onnx"]),
                       "no space left")
    assert not (full_disk / "o.png").exists() and not _partials(full_disk)


@pytest.mark.parametrize("target,needle", [("/proc/stylestream-out.mp4", "cannot write"),
                                           ("/sys/stylestream-out.mp4", "cannot write"),
                                           ("/dev/null", "not a regular file")])
def test_special_output_paths(tmp_path, tiny_models, clips, target, needle):
    assert_clean_error(run_cli("video", clips["plain"], target, "--style", tiny_models["onnx"]), needle)
    if target.endswith(".mp4"):
        img = tmp_path / "a.png"
        cv2.imwrite(str(img), np.full((20, 20, 3), 7, np.uint8))
        assert_clean_error(run_cli("image", img, "-o", target[:-4] + ".png", "--style", tiny_models["onnx"]),
                           needle)
    assert Path("/dev/null").is_char_device()


def test_model_with_the_wrong_channel_count_is_one_line(tmp_path, clips):
    """A TorchScript style giving 1-channel pictures used to end in C++'s terminate() (exit 134)
    now and then: the error left an engine thread running while the interpreter exited."""
    import torch

    from exports.formats import export_torchscript

    class OneChannel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 1)

        def forward(self, x):
            return torch.sigmoid(self.conv(x))

    model = tmp_path / "gray.pt"
    export_torchscript(OneChannel().eval(), model, {"kind": "stylestream.style", "name": "gray"})
    for _ in range(3):
        assert_clean_error(run_cli("video", clips["plain"], tmp_path / "o.mp4", "--style", model), "channel")
    assert not (tmp_path / "o.mp4").exists() and not _partials(tmp_path)


def _serve_half_a_stream(data: bytes) -> str:
    """An HTTP 'camera' that sends half of an MPEG-TS stream, then drops the connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve():
        while True:
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\n\r\n" + data[: len(data) // 2])
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/cam.ts"


def test_camera_lost_mid_stream_keeps_the_recording(tmp_path, tiny_models):
    stream = make_clip(tmp_path / "cam.ts", frames=80, fps=20)
    url = _serve_half_a_stream(stream.read_bytes())
    out = tmp_path / "rec.mp4"
    proc = run_cli("webcam", "--camera", url, "--no-window", "--record", out, "--style", tiny_models["onnx"])
    assert_clean_error(proc, "stopped delivering frames")
    assert str(out) in proc.stderr
    assert probe(out)["frames"] > 0 and not _partials(tmp_path)


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path, tiny_models, clips):
    out = tmp_path / "out.mp4"
    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.partial-{dead.pid}.mp4"        # its process has exited
    live = tmp_path / f".out.partial-{os.getpid()}.mp4"      # a run still writing it
    unrelated = tmp_path / f".other.partial-{dead.pid}.mp4"
    for p in (stale, live, unrelated):
        p.write_bytes(b"half a file")
    assert run_cli("video", clips["plain"], out, "--style", tiny_models["onnx"]).returncode == 0
    assert not stale.exists() and live.exists() and unrelated.exists()


# ------------------------------------------------------------ images: header first, EXIF

def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    """20000×20000 of one colour compresses to a few hundred kB and decodes to 1.2 GB: the
    refusal must come from the header, so the process never grows near that."""
    src = tmp_path / "huge.png"
    packer, row = zlib.compressobj(9), b"\0" + bytes(3 * 20000)
    idat = b"".join(packer.compress(row) for _ in range(20000)) + packer.flush()
    src.write_bytes(_png(20000, 20000, idat))
    # VmHWM: this process's peak resident memory since it started (getrusage's may carry the
    # forking parent's).
    code = ("from pathlib import Path; from stylestream.errors import UserError\n"
            "from stylestream.imagefile import read_image\n"
            f"try: read_image(Path({str(src)!r}))\n"
            "except UserError as e: print(e)\n"
            "print(next(int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120)
    message, peak_mb = proc.stdout.strip().splitlines()
    assert "20000×20000 is larger than" in message
    assert int(peak_mb) < 600, peak_mb


def test_png_whose_header_lies_is_one_line(tmp_path, tiny_models):
    src = tmp_path / "liar.png"
    src.write_bytes(_png(3000, 2000, zlib.compress(b"\0" * 64)))     # 6 MP promised, 64 bytes given
    out = tmp_path / "out.png"
    proc = run_cli("image", src, "-o", out, "--style", tiny_models["onnx"])
    assert_clean_error(proc, "not a readable image")
    assert "not enough image data" in proc.stderr.lower()     # libpng's reason, folded into the line
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tif", ".ppm", ".pgm"])
def test_header_size_matches_the_decoded_size(tmp_path, suffix):
    from stylestream.imagefile import header_size

    img = np.random.default_rng(0).integers(0, 256, (23, 37, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(suffix, img[..., 0] if suffix == ".pgm" else img)
    assert ok
    assert header_size(buf.tobytes()) == (37, 23)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """`jpeg` with an APP1 Exif segment holding only the Orientation tag."""
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) \
        + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_opencv_shows_it(tmp_path, orientation):
    from stylestream.imagefile import read_image

    yy, xx = np.mgrid[0:30, 0:50]
    img = np.dstack([xx * 5, yy * 8, np.zeros_like(xx)]).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    src = tmp_path / "o.jpg"
    src.write_bytes(_with_exif_orientation(buf.tobytes(), orientation))
    rgb, _, _ = read_image(src)
    shown = cv2.cvtColor(cv2.imread(str(src), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)   # applies EXIF
    assert rgb.shape == shown.shape == ((30, 50, 3) if orientation < 5 else (50, 30, 3))
    assert np.array_equal(rgb, shown)


def test_image_command_writes_the_photo_upright(tmp_path, tiny_models):
    img = np.zeros((30, 50, 3), np.uint8)
    img[:, :10] = 255                                   # a white band on the stored left edge
    ok, buf = cv2.imencode(".jpg", img)
    src = tmp_path / "phone.jpg"
    src.write_bytes(_with_exif_orientation(buf.tobytes(), 6))     # shown turned 90° clockwise
    out = tmp_path / "up.png"
    assert run_cli("image", src, "-o", out, "--style", tiny_models["onnx"], "--strength", "0").returncode == 0
    got = cv2.imread(str(out))
    assert got.shape == (50, 30, 3)
    assert got[:10].mean() > 200 and got[-20:].mean() < 50       # the band is now on top


# ------------------------------------------------------------ damaged video: the fuzz corpus

@pytest.mark.parametrize("case", list(CASES))
def test_fuzz_corpus(tmp_path, tiny_models, case):
    r = run_case(case, tmp_path, str(tiny_models["onnx"]))
    assert r["exit"] in (0, 2), r
    assert not r["leftovers"], r
    assert not any("Traceback" in line or "libpng" in line for line in r["stderr"]), r
    if r["exit"] == 2:
        assert r["stderr_lines"] == 1 and r["stderr"][0].startswith("stylestream: error:"), r
        assert r["output"] == "untouched", r
    else:
        assert r["stderr_lines"] <= 1, r
        assert r["output_frames"] == r["summary"]["frames"] > 0, r
        if r["stderr_lines"]:
            assert r["stderr"][0].startswith("stylestream: warning:") and "damaged" in r["summary"], r
    # What each kind of damage must come to, as ffmpeg would have it.
    if case in ("zero_byte", "text", "random_bytes", "image_as_video", "audio_only", "truncated_index_at_end_50",
                "truncated_header_only", "frames_1x1"):
        assert r["exit"] == 2, r
    if case.startswith("truncated_faststart") or case == "zeroed_middle" or case.startswith("frames_2x2") \
            or case == "frames_12x48":
        assert r["exit"] == 0, r
    if case == "zeroed_middle":
        assert r["summary"]["skipped_packets"] > 0 and r["stderr_lines"] == 1, r
        assert r["summary"]["frames"] < 30


# ------------------------------------------------------------ train: unreadable photos

def test_training_data_skips_unreadable_photos(tmp_path, capsys):
    from conftest import write_photos

    from trainers.data import ImageFolderSampler

    folder = tmp_path / "photos"
    folder.mkdir()
    write_photos(folder, count=3)
    bad = ["bad0.jpg", "bad1.png", "bad2.webp", "bad3.png", "bad4.jpg", "bad5.jpg", "bad6.png"]
    for name in bad:
        (folder / name).write_bytes(b"not a photo")
    sampler = ImageFolderSampler(folder, 32)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(sampler) == 3 and sorted(p.name for p in sampler.skipped) == bad
    assert len(warning) == 1 and "skipped 7 unreadable photos" in warning[0]
    assert "bad0.jpg" in warning[0] and "and 2 more" in warning[0]
    assert sampler.batch(0, 2).shape == (2, 3, 32, 32)
    for p in folder.glob("p*.png"):
        p.unlink()
    with pytest.raises(ValueError, match="no readable photos"):
        ImageFolderSampler(folder, 32)


def test_joined_clips_whose_audio_steps_back_at_the_seams(tmp_path, tiny_models):
    """An ffconcat playlist of one clip: at each seam the AAC priming steps audio time back,
    which the muxer refuses (EINVAL, an internal error); those packets are dropped."""
    write_clip(tmp_path / "part.mp4", 64, 48, frames=20, fps=10, audio=True)
    playlist = tmp_path / "joined.ffconcat"
    playlist.write_text("ffconcat version 1.0\n" + "file part.mp4\n" * 3)
    out = tmp_path / "out.mp4"
    proc = run_cli("video", playlist, out, "--style", tiny_models["onnx"], "--json")
    assert proc.returncode == 0, proc.stderr
    got = probe(out)
    assert got["frames"] == json.loads(proc.stdout)["frames"] == 60
    assert got["audio_packets"] and got["audio_packets"][-1][1] > 5.0
