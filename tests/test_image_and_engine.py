"""`stylestream image`, the engines and the stylizer's frame arithmetic."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_cli
from stylestream.backends.base import Engine
from stylestream.stylizer import Stylizer


def _photo(h=50, w=70):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 3 % 256, yy * 5 % 256, (xx + yy) % 256], -1).astype(np.uint8)


def _stylized_reference(model, rgb, max_size=1024):
    """What `image` must write: the same model run in-process (fp32) on the decoded input."""
    from stylestream.backends import open_engine
    return Stylizer(open_engine(model, "cpu", precision="fp32"), max_size)(rgb).astype(int)


def _assert_stylized(got_bgr, model, rgb, tolerance, max_size=1024):
    """`got_bgr` (as OpenCV reads it) is `rgb` stylized: close to the reference, far from a
    copy of the input and from the reference with its channels swapped."""
    got = cv2.cvtColor(got_bgr, cv2.COLOR_BGR2RGB).astype(int)
    want = _stylized_reference(model, rgb, max_size)
    assert np.abs(got - want).mean() < tolerance
    assert np.abs(got - rgb).mean() > tolerance + 10
    assert np.abs(got - want[..., ::-1]).mean() > tolerance + 5


def test_image_kinds(tmp_path, tiny_models):
    rgb = _photo()
    cv2.imwrite(str(tmp_path / "color.jpg"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "gray.png"), rgb[..., 0])
    cv2.imwrite(str(tmp_path / "alpha.png"), np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 128, np.uint8)]))
    cv2.imwrite(str(tmp_path / "deep.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    out = tmp_path / "out"
    names = ["color.jpg", "gray.png", "alpha.png", "deep.png"]
    proc = run_cli("image", *[tmp_path / n for n in names], "-o", out, "--style", tiny_models["onnx"], "--json",
                   "--precision", "fp32")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["images"]
    assert len(results) == 4
    model = tiny_models["onnx"]
    color = cv2.imread(str(out / "color.tiny.jpg"), cv2.IMREAD_UNCHANGED)
    assert color.shape == (50, 70, 3)
    jpeg_input = cv2.imread(str(tmp_path / "color.jpg"))[..., ::-1]
    _assert_stylized(color, model, jpeg_input, tolerance=8)      # JPEG in and out, 4:2:0 chroma
    gray = cv2.imread(str(out / "gray.tiny.png"), cv2.IMREAD_UNCHANGED)
    assert gray.shape == (50, 70, 3)
    _assert_stylized(gray, model, np.repeat(rgb[..., :1], 3, axis=2), tolerance=1)
    alpha = cv2.imread(str(out / "alpha.tiny.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == (50, 70, 4) and (alpha[..., 3] == 128).all()  # alpha kept as it was
    _assert_stylized(alpha[..., :3], model, rgb, tolerance=1)
    deep = cv2.imread(str(out / "deep.tiny.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (50, 70, 3)
    assert (deep % 257 == 0).all()                            # 8-bit stylized values widened
    _assert_stylized((deep // 257).astype(np.uint8), model, rgb, tolerance=1)


def test_single_image_to_file(tmp_path, tiny_models):
    src = tmp_path / "a.png"
    rgb = _photo()
    cv2.imwrite(str(src), rgb[..., ::-1])
    proc = run_cli("image", src, "-o", tmp_path / "b.png", "--style", tiny_models["pt"], "--max-size", "32")
    assert proc.returncode == 0, proc.stderr
    got = cv2.imread(str(tmp_path / "b.png"))
    assert got.shape == (50, 70, 3)
    _assert_stylized(got, tiny_models["pt"], rgb, tolerance=1, max_size=32)


def test_onnx_and_torchscript_agree(tiny_models):
    from stylestream.backends import open_engine

    x = np.random.default_rng(0).random((1, 3, 32, 48), dtype=np.float32)
    a = open_engine(tiny_models["onnx"], "cpu", precision="fp32")     # export parity, not bf16
    b = open_engine(tiny_models["pt"], "cpu")
    assert a.name == b.name == "tiny" and a.metadata["arch"] == "johnson"
    np.testing.assert_allclose(a(x), b(x), atol=1e-4)
    import torch
    with torch.no_grad():
        ref = tiny_models["net"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(a(x), ref, atol=1e-4)


def test_openvino_and_onnxruntime_agree_and_auto_picks_openvino_on_the_cpu(tiny_models):
    pytest.importorskip("openvino")
    from stylestream.backends import open_engine

    x = np.random.default_rng(1).random((1, 3, 36, 52), dtype=np.float32)
    assert open_engine(tiny_models["onnx"], "cpu").backend == "openvino"
    ov = open_engine(tiny_models["onnx"], "cpu", precision="fp32")
    ort = open_engine(tiny_models["onnx"], "cpu", backend="onnxruntime")
    assert (ov.backend, ov.precision, ort.backend) == ("openvino", "fp32", "onnxruntime")
    assert ov.metadata == ort.metadata and ov.metadata["kind"] == "stylestream.style"
    np.testing.assert_allclose(ov(x), ort(x), atol=1e-4)
    y = x[:, :, :32, :48].copy()                       # another shape: compiled anew
    np.testing.assert_allclose(ov(y), ort(y), atol=1e-4)


def test_openvino_bf16_is_close_to_fp32_where_the_cpu_has_it(tiny_models):
    pytest.importorskip("openvino")
    import openvino

    from stylestream.backends.openvino import OpenVinoEngine
    if "BF16" not in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bf16 arithmetic")
    x = np.random.default_rng(3).random((1, 3, 64, 96), dtype=np.float32)
    fp32 = OpenVinoEngine(tiny_models["onnx"], precision="fp32")(x).copy()
    bf16 = OpenVinoEngine(tiny_models["onnx"], precision="bf16")
    out = bf16(x)
    assert bf16.precision == "bf16" and out.shape == fp32.shape
    assert 0 < np.abs(out - fp32).mean() < 0.02          # really bf16, and close


def test_openvino_first_calls_from_several_threads_at_once(tiny_models):
    """Each engine thread's first call sets OpenVINO up (compiled shapes, requests); several
    threads doing that at once must all get the right answer. (The deadlock this guards
    against came once in about seven video jobs and does not reproduce on demand here.)"""
    pytest.importorskip("openvino")
    from concurrent.futures import ThreadPoolExecutor

    from stylestream.backends.openvino import OpenVinoEngine

    engine = OpenVinoEngine(tiny_models["onnx"], threads=1, streams=4)
    rng = np.random.default_rng(2)
    batches = [rng.random((1, 3, 32 + 4 * (i % 2), 48), dtype=np.float32) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda b: engine(b).copy(), batches))
    for b, out in zip(batches, outs):
        np.testing.assert_allclose(out, engine(b), atol=1e-6)


def test_asking_for_openvino_without_it_is_one_clear_error(tiny_models, monkeypatch):
    from stylestream.backends import select
    from stylestream.errors import UserError

    without = select.Hardware()
    without.openvino = False
    monkeypatch.setattr(select, "hardware", lambda: without)
    with pytest.raises(UserError, match="pip install openvino"):
        select.open_engine(tiny_models["onnx"], "cpu", backend="openvino")
    assert select.open_engine(tiny_models["onnx"], "cpu").backend == "onnxruntime"   # auto falls back


@pytest.mark.parametrize("w,h,max_size,expected", [
    (640, 272, 640, (640, 272)), (1280, 720, 640, (640, 360)), (65, 47, None, (64, 48)),
    (3000, 10, 640, (640, 16)), (100, 100, 50, (48, 48)), (1000, 500, 642, (640, 320)), (2, 1, None, (16, 16)),
])
def test_processing_size(w, h, max_size, expected):
    from stylestream.stylizer import processing_size

    assert processing_size(w, h, max_size, 4) == expected


@pytest.mark.parametrize("w,h,max_size,expected", [
    (640, 272, 640, (640, 272, 0, 0)), (510, 338, 510, (510, 338, 2, 2)), (65, 47, None, (65, 47, 3, 1)),
    (1280, 720, 640, (640, 360, 0, 0)), (2, 2, None, (16, 16, 0, 0)), (12, 48, None, (16, 48, 0, 0)),
])
def test_processing_plan_pads_rather_than_resamples(w, h, max_size, expected):
    from stylestream.stylizer import processing_plan

    assert processing_plan(w, h, max_size, 4) == expected


def test_odd_sized_frame_is_stylized_pixel_for_pixel(tiny_models):
    import cv2
    import torch

    from stylestream.backends import open_engine
    from stylestream.stylizer import Stylizer

    frame = np.random.default_rng(3).integers(0, 256, (47, 65, 3), dtype=np.uint8)
    out = Stylizer(open_engine(tiny_models["onnx"], "cpu", precision="fp32"))(frame)
    padded = cv2.copyMakeBorder(frame, 0, 1, 0, 3, cv2.BORDER_REFLECT_101)
    with torch.no_grad():
        ref = tiny_models["net"](torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255)[0]
    ref = (ref.permute(1, 2, 0).numpy()[:47, :65] * 255 + 0.5).clip(0, 255).astype(np.uint8)
    assert out.shape == frame.shape
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_strength_and_preserve_color(tiny_models):
    from stylestream.backends import open_engine
    from stylestream.stylizer import Stylizer

    engine = open_engine(tiny_models["onnx"], "cpu")
    frame = _photo(48, 64)
    assert np.array_equal(Stylizer(engine, strength=0.0)(frame), frame)
    full = Stylizer(engine)(frame).astype(int)
    half = Stylizer(engine, strength=0.5)(frame).astype(int)
    assert np.abs(half - (full + frame) / 2).max() <= 1
    kept = Stylizer(engine, keep_color=True)(frame)
    src_cc = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb).astype(int)
    kept_cc = cv2.cvtColor(kept, cv2.COLOR_RGB2YCrCb).astype(int)
    full_y = cv2.cvtColor(full.astype(np.uint8), cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
    assert np.abs(kept_cc[..., 1:] - src_cc[..., 1:]).mean() < 3   # colours from the source
    assert np.abs(kept_cc[..., 0] - full_y).mean() < 3              # luminance from the style


def test_info_lists_versions_and_zoo():
    proc = run_cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert "CPUExecutionProvider" in s["onnxruntime_providers"]
    assert {"torch", "onnxruntime", "av", "cv2"} <= set(s["versions"])
    for name, sizes in s["zoo"].items():
        for arch, meta in sizes.items():
            assert meta["kind"] == "stylestream.style" and meta["file_mb"] <= 8, name
            assert meta["arch"] == arch, name


class _RampEngine(Engine):
    """Returns a fixed planar output with values below 0, inside and above 1, whatever the input."""

    def __init__(self, planes: np.ndarray):
        super().__init__(Path("ramp.onnx"), {}, "cpu")
        self.planes = planes

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.planes[None]


def test_engine_output_becomes_rounded_saturated_interleaved_rgb():
    h, w = 8, 12
    ramp = np.linspace(-0.3, 1.3, h * w, dtype=np.float32).reshape(h, w)
    planes = np.stack([ramp, ramp[::-1], np.full_like(ramp, 0.5)])    # R, G, B differ
    out = Stylizer(_RampEngine(planes)).infer(np.zeros((h, w, 3), np.uint8))
    expected = np.clip(np.rint(planes.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    assert out.dtype == np.uint8 and out.shape == (h, w, 3)
    assert np.abs(out.astype(int) - expected).max() <= 1      # round-half-even may differ by one
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255 and (out[..., 2] == 128).all()


def _machine(cuda_devices=0, ort_gpu=(), torch_cuda=False, openvino=True, openvino_cpu=("fp32", False)):
    """A Hardware whose probes answer as a machine of this kind would."""
    from stylestream.backends.select import Hardware

    hw = Hardware()
    hw.cuda_devices, hw.ort_gpu_installed, hw.torch_cuda = cuda_devices, tuple(ort_gpu), torch_cuda
    hw.openvino, hw.openvino_cpu = openvino, openvino_cpu
    return hw


@pytest.mark.parametrize("machine,options,expected", [
    # the defaults: OpenVINO's own precision on the CPU, ONNX Runtime without OpenVINO
    (dict(openvino_cpu=("bf16", True)), {}, ("openvino", "cpu", "bf16")),
    (dict(), {}, ("openvino", "cpu", "fp32")),
    (dict(openvino=False), {}, ("onnxruntime", "cpu", "fp32")),
    (dict(openvino_cpu=("bf16", True)), {"precision": "fp32"}, ("openvino", "cpu", "fp32")),
    # onnxruntime-gpu on a GPU: TensorRT in fp16, the CUDA provider in fp32
    (dict(cuda_devices=1, ort_gpu=["TensorrtExecutionProvider", "CUDAExecutionProvider"]), {},
     ("onnxruntime", "cuda", "fp16")),
    (dict(cuda_devices=1, ort_gpu=["CUDAExecutionProvider"], torch_cuda=True), {}, ("onnxruntime", "cuda", "fp32")),
    (dict(cuda_devices=1, ort_gpu=["TensorrtExecutionProvider"]), {"precision": "fp32"},
     ("onnxruntime", "cuda", "fp32")),
    (dict(cuda_devices=1, ort_gpu=["CUDAExecutionProvider"]), {"device": "cpu"}, ("openvino", "cpu", "fp32")),
    # a GPU without onnxruntime-gpu: PyTorch's CUDA engine
    (dict(cuda_devices=1, torch_cuda=True), {}, ("torch", "cuda", "fp16")),
    (dict(cuda_devices=1, torch_cuda=True), {"suffix": ".pt"}, ("torch", "cuda", "fp16")),
    (dict(cuda_devices=1, torch_cuda=True), {"precision": "fp32"}, ("torch", "cuda", "fp32")),
    # an onnxruntime-gpu build on a machine without a GPU is a CPU machine
    (dict(ort_gpu=["CUDAExecutionProvider"]), {}, ("openvino", "cpu", "fp32")),
    (dict(), {"suffix": ".pt"}, ("torchscript", "cpu", "fp32")),
    (dict(), {"backend": "torch"}, ("torch", "cpu", "fp32")),
    (dict(openvino_cpu=("bf16", True), cuda_devices=1, torch_cuda=True), {"precision": "bf16"},
     ("openvino", "cpu", "bf16")),
])
def test_one_chooser_picks_backend_device_and_precision(monkeypatch, machine, options, expected):
    from stylestream.backends import select

    monkeypatch.setattr(select, "hardware", lambda: _machine(**machine))
    suffix = options.pop("suffix", ".onnx")
    c = select.choose(suffix, **options)
    assert (c.backend, c.device, c.precision) == expected


@pytest.mark.parametrize("machine,options,message", [
    (dict(), {"device": "cuda"}, "--device cuda: neither onnxruntime-gpu nor PyTorch can use a GPU here"),
    (dict(), {"device": "cuda", "backend": "openvino"}, "--backend openvino runs on the CPU; leave out --device cuda"),
    (dict(openvino=False), {"backend": "openvino"}, "OpenVINO is not installed (pip install openvino)"),
    (dict(), {"precision": "bf16"}, "this CPU has no bf16 arithmetic"),
    (dict(openvino_cpu=("bf16", True)), {"precision": "bf16", "backend": "onnxruntime"}, "bf16 is OpenVINO's"),
    (dict(openvino_cpu=("bf16", True)), {"precision": "bf16", "device": "cuda"}, "leave out --device cuda"),
    (dict(), {"backend": "onnxruntime", "device": "cuda"}, "no CUDA provider (install onnxruntime-gpu)"),
    (dict(ort_gpu=["CUDAExecutionProvider"]), {"backend": "onnxruntime", "device": "cuda"},
     "no NVIDIA GPU is visible to the driver"),
    (dict(), {"backend": "torch", "device": "cuda"}, "PyTorch sees no CUDA device"),
    (dict(), {"suffix": ".pt", "backend": "openvino"}, "--backend openvino plays .onnx files"),
    (dict(), {"backend": "tensorflow"}, "--backend must be one of"),
])
def test_impossible_combinations_are_one_line_errors(monkeypatch, machine, options, message):
    from stylestream.backends import select
    from stylestream.errors import UserError

    monkeypatch.setattr(select, "hardware", lambda: _machine(**machine))
    suffix = options.pop("suffix", ".onnx")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        select.choose(suffix, **options)
    assert "\n" not in str(caught.value)


def test_hardware_is_probed_once_and_gpu_providers_need_a_gpu(monkeypatch):
    import onnxruntime as ort

    from stylestream.backends.select import Hardware, hardware

    assert hardware() is hardware()
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    without, with_gpu = Hardware(), Hardware()
    without.cuda_devices, with_gpu.cuda_devices = 0, 1
    assert without.ort_providers == ("CPUExecutionProvider",) and without.ort_gpu == ()
    assert with_gpu.ort_gpu == ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    assert len(with_gpu.ort_providers) == 3


def test_info_reports_the_engine_a_job_would_use():
    from stylestream.backends import choose

    s = json.loads(run_cli("info", "--json").stdout)
    c = choose(".onnx")
    assert s["default_engine"] == {"backend": c.backend, "device": c.device, "precision": c.precision}
    if not s["cuda_devices"]:
        assert not {"TensorrtExecutionProvider", "CUDAExecutionProvider"} & set(s["onnxruntime_providers"])


@pytest.mark.parametrize("arch,width,blocks", [("johnson", 32, 5), ("johnson", 8, 2), ("compact", 32, 5),
                                               ("compact", 16, 3)])
def test_macs_per_pixel_counts_the_nets_convolutions(arch, width, blocks):
    """The figure the frames-in-flight rule reads, against the convolutions the net really runs."""
    import torch

    from stylenets.transformer_net import build
    from stylestream.backends.base import macs_per_pixel

    net = build(arch, width=width, res_blocks=blocks).eval()
    net.margin = 0                                  # the compact net's border margin is left out
    counted = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda m, i, o: counted.append(
                o[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]))
    with torch.no_grad():
        net(torch.rand(1, 3, 64, 96))
    meta = {"arch": arch, "width": str(width), "res_blocks": str(blocks)}
    assert macs_per_pixel(meta) == sum(counted) // (64 * 96)
    assert macs_per_pixel({"name": "foreign"}) is None
