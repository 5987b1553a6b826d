"""`stylestream video`: real PyAV decode → ONNX Runtime → libx264 encode on generated clips."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import make_clip, probe, run_cli


def _video(src, dst, model, *extra):
    return run_cli("video", src, dst, "--style", model, "--json", *extra)


def test_frames_size_duration_and_audio_copied(tmp_path, clips, tiny_models):
    out = tmp_path / "out.mp4"
    proc = _video(clips["audio"], out, tiny_models["onnx"])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    src, got = probe(clips["audio"]), probe(out)
    assert got["frames"] == src["frames"] == summary["frames"] == 12
    assert got["sizes"] == {(64, 48)}
    assert got["video_times"] == pytest.approx(src["video_times"], abs=1e-3)
    # Audio is copied packet for packet, not re-encoded.
    assert got["audio_codec"] == "aac"
    assert [p for p, _ in got["audio_packets"]] == [p for p, _ in src["audio_packets"]]
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"


def test_variable_frame_rate_keeps_timestamps(tmp_path, clips, tiny_models):
    out = tmp_path / "vfr.mp4"
    assert _video(clips["vfr"], out, tiny_models["onnx"]).returncode == 0
    src, got = probe(clips["vfr"]), probe(out)
    assert got["frames"] == src["frames"] == 10
    assert got["video_times"] == pytest.approx(src["video_times"], abs=1e-3)
    intervals = {round(b - a, 3) for a, b in zip(got["video_times"], got["video_times"][1:])}
    assert intervals == {0.05, 0.15}
    assert [t for _, t in got["audio_packets"]] == pytest.approx([t for _, t in src["audio_packets"]], abs=1e-3)


def test_odd_size_is_encoded(tmp_path, clips, tiny_models):
    out = tmp_path / "odd.mp4"
    proc = _video(clips["odd"], out, tiny_models["onnx"])
    assert proc.returncode == 0, proc.stderr
    # yuv420p needs even sides: 65×47 loses its last column and row, nothing is stretched.
    assert probe(out)["sizes"] == {(64, 46)}
    assert probe(out)["frames"] == 12


def test_sink_scales_up_a_frame_stylized_below_the_output_size(tmp_path, clips, tiny_models):
    import av
    import cv2
    import numpy as np

    from stylestream.sinks import VideoFileSink

    ys, xs = np.mgrid[0:24, 0:32]
    small = np.dstack([xs * 8, ys * 10, 255 - xs * 8]).astype(np.uint8)
    sink = VideoFileSink(tmp_path / "up.mp4", 64, 48, rate=10, crf=0)
    for _ in range(2):
        sink.write(small)
    sink.close()
    with av.open(str(tmp_path / "up.mp4")) as c:
        got = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert got.shape == (48, 64, 3)
    want = cv2.resize(small, (64, 48), interpolation=cv2.INTER_LINEAR).astype(int)
    assert np.abs(got - want)[4:-4, 4:-4].mean() < 3       # bilinear, up to 4:2:0 chroma

    # A job stylizing below the source size still writes the source size.
    out = tmp_path / "small.mp4"
    assert _video(clips["plain"], out, tiny_models["onnx"], "--max-size", "32").returncode == 0
    assert probe(out)["sizes"] == {(64, 48)} and probe(out)["frames"] == 12


def _x264_options(path) -> str:
    """The settings x264 writes into the stream's first packet (an SEI message)."""
    import av
    with av.open(str(path)) as c:
        data = bytes(next(p for p in c.demux(video=0) if p.size))
    return data[data.index(b"options: "):].split(b"\x00")[0].decode("ascii", "replace")


def test_x264_preset_is_applied(tmp_path, clips, tiny_models):
    default, fastest = tmp_path / "default.mp4", tmp_path / "ultrafast.mp4"
    assert _video(clips["plain"], default, tiny_models["onnx"]).returncode == 0
    assert _video(clips["plain"], fastest, tiny_models["onnx"], "--preset", "ultrafast").returncode == 0
    assert "subme=1 " in _x264_options(default)                   # superfast
    assert "cabac=0" in _x264_options(fastest) and "subme=0 " in _x264_options(fastest)


def test_rotation_metadata_is_applied(tmp_path, clips, tiny_models):
    import av
    import numpy as np

    out = tmp_path / "rot.mp4"
    # --strength 0 passes the source through, so the picture's orientation can be checked.
    assert _video(clips["rotated"], out, tiny_models["onnx"], "--strength", "0").returncode == 0
    # Stored 64×32 with a 90° counter-clockwise display matrix: players show it 32×64, and so do we.
    assert probe(out)["sizes"] == {(32, 64)}
    with av.open(str(out)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    # Red grows left→right in the stored picture; turned counter-clockwise, it grows bottom→top.
    assert first[:8, :, 0].mean() > first[-8:, :, 0].mean() + 50
    assert np.ptp(first[:, :, 0].mean(axis=0)) < 20


def test_torchscript_model_and_options(tmp_path, clips, tiny_models):
    """Each option changes the frames as it should: compared with the same options applied
    in-process to the decoded source, and with each option left out in turn."""
    import av
    import numpy as np

    from stylestream.backends import open_engine
    from stylestream.stylizer import Stylizer

    out = tmp_path / "ts.mp4"
    proc = _video(clips["plain"], out, tiny_models["pt"], "--max-size", "32", "--strength", "0.5",
                  "--preserve-color", "--crf", "30", "--no-temporal")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["backend"] == "torchscript" and s["frames"] == 12
    assert probe(out)["sizes"] == {(64, 48)}  # stylized at ≤32 px, written at source size
    assert "crf=30.0" in _x264_options(out)
    with av.open(str(clips["plain"])) as c:
        source = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    engine = open_engine(tiny_models["pt"], "cpu")

    def distance(**options) -> float:
        stylizer = Stylizer(engine, **{"max_size": 32, "strength": 0.5, "keep_color": True, **options})
        return float(np.mean([np.abs(stylizer(f).astype(int) - g).mean() for f, g in zip(source, got)]))
    exact = distance()
    assert exact < 4, exact                                  # crf 30 and 4:2:0 chroma only
    for left_out in ({"max_size": 640}, {"strength": 1.0}, {"keep_color": False}):
        assert distance(**left_out) > exact + 1, left_out


def test_human_summary_line(tmp_path, clips, tiny_models):
    out = tmp_path / "h.mp4"
    proc = run_cli("video", clips["plain"], out, "--style", tiny_models["onnx"])
    assert proc.returncode == 0, proc.stderr
    assert "12 frames in" in proc.stdout and "FPS" in proc.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_playable_file_with_audio(tmp_path, tiny_models, sig):
    src = make_clip(tmp_path / "long.mp4", width=320, height=240, frames=400, fps=25, audio=True)
    out = tmp_path / "int.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "stylestream", "video", str(src), str(out), "--style",
                             str(tiny_models["onnx"]), "--json", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Until frames (and so audio) have been muxed: a fixed sleep is too short on a loaded
    # machine and lets the job finish first on an idle one.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.stat().st_size > 32_000
                                                  for p in tmp_path.glob(".int.partial-*.mp4") if p.exists()):
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    s = json.loads(stdout)
    assert s["interrupted"] and s["signal"] == sig.name
    got = probe(out)
    assert 0 < got["frames"] == s["frames"] < 400
    assert got["audio_packets"], "audio lost on interrupt"
    assert "Traceback" not in stderr
    assert not list(tmp_path.glob(".int.partial-*"))


@pytest.mark.parametrize("container,codec,out_suffix", [
    ("mkv", "pcm_s16le", ".mp4"),   # MP4 holds PCM: copied
    ("mkv", "libopus", ".mp4"),     # MP4 holds Opus: copied
    ("mkv", "aac", ".mkv"),         # Matroska output
    ("mov", "pcm_alaw", ".mp4"),    # MP4 cannot hold A-law: re-encoded to AAC
    ("mov", "pcm_s16le", ".webm"),  # WebM cannot hold PCM (nor H.264): the clear error, no file
])
def test_audio_codecs_across_containers(tmp_path, tiny_models, container, codec, out_suffix):
    src = make_clip(tmp_path / f"in.{container}", audio=True, audio_codec=codec)
    out = tmp_path / f"out{out_suffix}"
    proc = _video(src, out, tiny_models["onnx"])
    if out_suffix == ".webm":
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert not out.exists() and not list(tmp_path.glob(".out.partial*"))
        return
    assert proc.returncode == 0, proc.stderr
    got = probe(out)
    assert got["frames"] == 12 and got["audio_packets"]
    assert got["audio_codec"] == ("aac" if codec == "pcm_alaw" else probe(src)["audio_codec"])
    if codec == "pcm_alaw":  # re-encoded audio still covers the clip
        assert got["audio_packets"][-1][1] > 1.0


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("temporal", [0.8, None])
def test_frames_stylized_at_once_match_one_at_a_time(tmp_path, tiny_models, temporal, runtime, monkeypatch):
    """Several frames in flight (the CPU's throughput mode) must write exactly the frames that
    one frame at a time does, in the same order, the temporal blend in sequence. Compared as
    handed to the encoder: libx264's frame threads may round a frame differently run to run."""
    import numpy as np

    from stylestream import sinks
    from stylestream.backends.onnxruntime import OnnxEngine
    from stylestream.backends.openvino import OpenVinoEngine
    from stylestream.jobs.video import stylize_video
    from stylestream.stylizer import Stylizer

    if runtime == "openvino":
        pytest.importorskip("openvino")
    written: list[np.ndarray] = []
    real_write = sinks.VideoFileSink.write
    monkeypatch.setattr(sinks.VideoFileSink, "write",
                        lambda self, image, *a, **k: (written.append(image.copy()), real_write(self, image, *a, **k)))
    src = make_clip(tmp_path / "moving.mp4", width=96, height=64, frames=20, audio=True)
    outs = {}
    for frames in (1, 3):
        written.clear()
        engine = OnnxEngine(tiny_models["onnx"], threads=1, concurrent_calls=frames) \
            if runtime == "onnxruntime" else OpenVinoEngine(tiny_models["onnx"], threads=1, streams=frames)
        stylizer = Stylizer(engine, 640)
        assert stylizer.frames_at_once == frames
        out = tmp_path / f"out{frames}.mp4"
        summary = stylize_video(str(src), str(out), stylizer, progress=False, temporal_strength=temporal)
        assert summary["frames"] == probe(out)["frames"] == 20
        outs[frames] = list(written)
    assert len(outs[1]) == len(outs[3]) == 20
    diffs = [int(np.abs(a.astype(int) - b).max()) for a, b in zip(outs[1], outs[3])]
    assert not any(diffs), diffs
    if temporal is not None:
        # Equal runs prove nothing if neither blended: the blend must change the frames that
        # have a history, and only those.
        written.clear()
        engine = OnnxEngine(tiny_models["onnx"], threads=1) if runtime == "onnxruntime" \
            else OpenVinoEngine(tiny_models["onnx"], threads=1)
        stylize_video(str(src), str(tmp_path / "plain.mp4"), Stylizer(engine, 640), progress=False,
                      temporal_strength=None)
        assert np.array_equal(written[0], outs[1][0])
        assert np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(written[1:], outs[1][1:])]) > 1
    assert [p for p, _ in probe(tmp_path / "out3.mp4")["audio_packets"]] == \
        [p for p, _ in probe(src)["audio_packets"]]


@pytest.mark.parametrize("zoo_file,temporal,expected", [("starry.compact.onnx", 0.8, 3),
                                                         ("starry.compact.onnx", None, 2), ("starry.onnx", 0.8, 2)])
def test_one_more_frame_in_flight_only_for_a_light_net_with_consistency(tmp_path, tiny_models, zoo_file, temporal,
                                                                       expected):
    """The rule reads the net's cost: the tiny net is given a zoo net's architecture metadata."""
    from stylenets.metadata import read_metadata
    from stylestream.backends.onnxruntime import OnnxEngine
    from stylestream.jobs.video import stylize_video
    from stylestream.stylizer import Stylizer
    from stylestream.zoo import ZOO_DIR

    engine = OnnxEngine(tiny_models["onnx"], threads=1, concurrent_calls=2)
    zoo = read_metadata(ZOO_DIR / zoo_file)
    engine.metadata = {**engine.metadata, **{k: zoo[k] for k in ("arch", "width", "res_blocks")}}
    src = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=6)
    summary = stylize_video(str(src), str(tmp_path / "out.mp4"), Stylizer(engine, 640), progress=False,
                            temporal_strength=temporal)
    assert summary["frames"] == 6 and summary["frames_in_flight"] == expected


def test_the_zoo_nets_that_get_the_extra_frame_are_the_compact_ones():
    from stylenets.metadata import read_metadata
    from stylestream.backends.base import macs_per_pixel
    from stylestream.jobs.video import LIGHT_NET_MACS
    from stylestream.zoo import zoo_models

    for name, sizes in zoo_models().items():
        for arch, path in sizes.items():
            assert (macs_per_pixel(read_metadata(path)) < LIGHT_NET_MACS) == (arch == "compact"), path.name


def test_cpu_frames_in_flight():
    from stylestream.backends import cpu_frames
    assert cpu_frames(1) == (1, 1)
    assert cpu_frames(2) == (2, 1)
    assert cpu_frames(16) == (4, 4)
