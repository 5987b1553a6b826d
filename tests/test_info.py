"""`stylestream info MODEL`: what a model file is and where it would run; `info`'s device lines."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_clean_error, run_cli


def test_info_model_reads_an_onnx_file(tiny_models):
    from stylestream.backends import choose

    proc = run_cli("info", tiny_models["onnx"], "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    net = tiny_models["net"]
    assert s["kind"] == "stylestream.style" and s["metadata"]["name"] == "tiny"
    import onnx

    # The weights the file holds, as exported (an upsampling layer becomes a transposed
    # convolution, so they are not the trained count).
    stored = onnx.load(str(tiny_models["onnx"])).graph.initializer
    assert s["parameters"] == sum(int(np.prod(t.dims)) for t in stored)
    assert s["parameters"] >= sum(p.numel() for p in net.parameters())
    assert s["file_mb"] == round(tiny_models["onnx"].stat().st_size / 2**20, 3)
    assert [v["name"] for v in s["inputs"]] == ["input"] and [v["name"] for v in s["outputs"]] == ["output"]
    assert len(s["inputs"][0]["shape"]) == 4 and s["inputs"][0]["shape"][1] == 3
    c = choose(".onnx")
    assert s["engine"] == {"backend": c.backend, "device": c.device, "precision": c.precision}
    assert s["macs_per_pixel"] > 0

    text = run_cli("info", tiny_models["onnx"]).stdout
    assert "a style model" in text and f"{s['parameters']:,}" in text
    assert f"engine       {c.backend} on {c.device}, {c.precision}" in text


def test_info_model_reads_torchscript_metadata_and_zoo_names(tiny_models):
    s = json.loads(run_cli("info", tiny_models["pt"], "--json").stdout)
    assert s["kind"] == "stylestream.style" and s["metadata"]["name"] == "tiny"
    assert s["parameters"] is None and s["engine"]["backend"] == "torchscript"

    zoo = json.loads(run_cli("info", "starry", "--json", env={"CUDA_VISIBLE_DEVICES": ""}).stdout)
    assert zoo["path"].endswith("starry.compact.onnx") and zoo["metadata"]["arch"] == "compact"


def test_info_model_names_a_generator_and_a_foreign_net(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(foreign))
    s = json.loads(run_cli("info", foreign, "--json").stdout)
    assert s["kind"] is None and s["engine"] is None and s["parameters"] == 0
    assert s["inputs"] == [{"name": "x", "shape": ["n", 4]}]
    assert "not a stylestream model" in run_cli("info", foreign).stdout


@pytest.mark.parametrize("kind, needle", [("garbage", "not a readable onnx"), ("missing", "unknown style"),
                                          ("empty", "empty file"), ("checkpoint", "python -m exports"),
                                          ("garbage.pt", "not a TorchScript model")])
def test_info_model_bad_files_are_one_line(tmp_path, kind, needle):
    import zipfile

    path = tmp_path / ("m.pt" if kind in ("checkpoint", "garbage.pt") else "m.onnx")
    if kind.startswith("garbage"):
        path.write_bytes(b"not protobuf at all" * 50)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "checkpoint":      # torch.save's layout: a zip with a pickle and no TorchScript code
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("m/data.pkl", b"\x80\x02}q\x00.")
    else:
        path = "no-such-model"
    assert_clean_error(run_cli("info", path), needle)


def test_info_tells_the_truth_about_the_gpu(monkeypatch):
    from stylestream import info
    from stylestream.backends.select import Hardware

    s = json.loads(run_cli("info", "--json").stdout)
    assert (s["cuda_device"] is None) == (s["cuda_devices"] == 0)
    if not s["cuda_devices"]:
        assert s["cuda_usable_by"] == [] and "cuda         none" in run_cli("info").stdout

    # A GPU that no installed engine can drive is named, with what to install.
    gpu_only = Hardware()
    gpu_only.cuda_devices, gpu_only.ort_gpu_installed, gpu_only.torch_cuda = 1, (), False
    monkeypatch.setattr("stylestream.backends.hardware", lambda: gpu_only)
    assert info.gpu_engines() == []
    usable = Hardware()
    usable.cuda_devices, usable.ort_gpu_installed, usable.torch_cuda = 1, ("CUDAExecutionProvider",), True
    monkeypatch.setattr("stylestream.backends.hardware", lambda: usable)
    assert info.gpu_engines() == ["onnxruntime (CUDAExecutionProvider)", "torch"]
