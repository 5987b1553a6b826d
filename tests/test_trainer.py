"""Fast-NST trainer: loss arithmetic, learning, resume, DDP and exports, on tiny data."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, SHARED, VGG_WEIGHTS, assert_clean_error, needs_vgg, run_cli, write_photos



def test_gram_matrix_known_values():
    from stylenets.perceptual import gram_matrix

    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    g = gram_matrix(f)
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / (2 * 1 * 2)
    torch.testing.assert_close(g[0], expected)
    # bf16 features still give a float32 Gram.
    assert gram_matrix(f.bfloat16()).dtype == torch.float32


def test_total_variation_known_values():
    from stylenets.perceptual import total_variation

    assert total_variation(torch.ones(1, 3, 8, 8)).item() == 0.0
    x = torch.zeros(1, 1, 2, 2)
    x[..., :, 1] = 1.0  # vertical edge: every horizontal pair differs by 1, no vertical pair does
    assert total_variation(x).item() == pytest.approx(1.0)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)  # +1 along rows, +4 down columns
    assert total_variation(x).item() == pytest.approx(1.0 + 16.0)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    import cv2

    d = write_photos(tmp_path_factory.mktemp("photos"))
    style = d.parent / "style.png"
    yy, xx = np.mgrid[0:64, 0:64]
    cv2.imwrite(str(style), np.stack([(xx * 16) % 256, (yy * 16) % 256, ((xx + yy) * 8) % 256], -1).astype(np.uint8))
    return d, style


def _cfg(tiny_data, tmp_path, **kw):
    from trainers.config import TrainConfig

    data, style = tiny_data
    base = dict(style_image=str(style), data=str(data), out=str(tmp_path / "m.onnx"), size=32, style_size=64,
                batch=2, steps=12, width=4, res_blocks=1, lr=1e-2, checkpoint_every=6, sample_every=6,
                vgg_weights=str(VGG_WEIGHTS), export=False, workdir=str(tmp_path / "run"))
    base.update(kw)
    return TrainConfig(**base)


@needs_vgg
def test_training_lowers_the_loss(tiny_data, tmp_path, monkeypatch):
    from trainers.fast_nst import train

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    h = train(_cfg(tiny_data, tmp_path, steps=40))["history"]
    first, last = np.mean([r["total"] for r in h[:5]]), np.mean([r["total"] for r in h[-5:]])
    assert last < 0.7 * first, (first, last)
    assert (tmp_path / "run" / "samples" / "step000036.png").is_file()
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


@needs_vgg
@pytest.mark.parametrize("temporal_weight", [0.0, 1e6])
def test_resume_reproduces_the_uninterrupted_run(tiny_data, tmp_path, monkeypatch, temporal_weight):
    from trainers.fast_nst import train

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    kw = dict(temporal_weight=temporal_weight)
    full = train(_cfg(tiny_data, tmp_path / "a", steps=12, **kw))["history"]
    train(_cfg(tiny_data, tmp_path / "b", steps=6, **kw))
    resumed = train(_cfg(tiny_data, tmp_path / "b", steps=12, resume=True, **kw))["history"]
    assert [r["step"] for r in resumed] == list(range(7, 13))
    np.testing.assert_allclose([r["total"] for r in resumed], [r["total"] for r in full[6:]], rtol=1e-4)


@needs_vgg
def test_time_budget_stops_checkpoints_and_init_fine_tunes(tiny_data, tmp_path, monkeypatch):
    import torch

    from stylenets.checkpoints import load_style_checkpoint
    from trainers.fast_nst import train

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    # A budget far below --steps: training stops on time and still checkpoints its last step.
    result = train(_cfg(tiny_data, tmp_path / "a", steps=100_000, max_minutes=0.02))
    assert 0 < result["steps"] < 100_000
    ckpt = tmp_path / "a" / "run" / "checkpoint.pt"
    assert torch.load(ckpt, weights_only=True)["step"] == result["steps"]

    # --init starts a new run (step 0, new loss weights) from those weights.
    start, _ = load_style_checkpoint(ckpt)
    tuned = train(_cfg(tiny_data, tmp_path / "b", steps=1, lr=0.0, init=str(ckpt), style_weight=1e9))
    assert tuned["history"][0]["step"] == 1
    from stylenets.checkpoints import checkpoint_steps
    assert checkpoint_steps(tmp_path / "b" / "run" / "checkpoint.pt") == (1, result["steps"])
    after, _ = load_style_checkpoint(tmp_path / "b" / "run" / "checkpoint.pt")
    for a, b in zip(start.state_dict().values(), after.state_dict().values()):
        torch.testing.assert_close(a, b)       # lr 0: the weights are exactly the --init ones
    with pytest.raises(ValueError, match="net"):
        train(_cfg(tiny_data, tmp_path / "c", steps=1, init=str(ckpt), width=8))

    # A checkpoint trained elsewhere exports here (python -m exports), parity-checked.
    from exports.__main__ import main as export_main
    from stylenets.metadata import read_metadata
    export_main([str(ckpt), str(tmp_path / "x.onnx"), "--style-image", str(tiny_data[1])])
    meta = read_metadata(tmp_path / "x.onnx")
    assert meta["steps"] == str(result["steps"]) and meta["style_weight"] == "10000000000.0"

    # --init also takes an ONNX export (the zoo ships nothing else): its weights, unfolded.
    train(_cfg(tiny_data, tmp_path / "d", steps=1, lr=0.0, init=str(tmp_path / "x.onnx")))
    assert checkpoint_steps(tmp_path / "d" / "run" / "checkpoint.pt") == (1, result["steps"])
    after, _ = load_style_checkpoint(tmp_path / "d" / "run" / "checkpoint.pt")
    for a, b in zip(start.state_dict().values(), after.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_distillation_needs_no_vgg_and_pulls_the_student_to_the_teacher(tiny_data, tmp_path, monkeypatch):
    """--teacher with zero content and style weights: no VGG is loaded (the weights path is
    bogus here), and the compact student's output moves towards the teacher's, which is
    given as one of our ONNX exports."""
    from exports.formats import export_onnx
    from stylenets.metadata import read_metadata
    from trainers.fast_nst import load_teacher, train
    from stylenets.transformer_net import TransformerNet

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    torch.manual_seed(1)
    teacher = TransformerNet(width=4, res_blocks=1).eval()
    teacher_file = tmp_path / "teacher.onnx"
    export_onnx(teacher, teacher_file, {"kind": "stylestream.style", "name": "t", **teacher.config()})
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        target = load_teacher(teacher_file)(x)
        torch.testing.assert_close(target, teacher(x), atol=1e-5, rtol=1e-4)

    kw = dict(arch="compact", width=8, teacher=str(teacher_file), content_weight=0.0, style_weight=0.0,
              distill_weight=1.0, vgg_weights=str(tmp_path / "no-such-vgg.pth"), lr=1e-2)
    result = train(_cfg(tiny_data, tmp_path, steps=60, export=True, **kw))
    h = result["history"]
    assert np.mean([r["distill"] for r in h[-5:]]) < 0.6 * h[0]["distill"], (h[0], h[-5:])
    assert all(r["style"] == 0 and r["content"] == 0 for r in h)
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta["teacher"] == "teacher.onnx" and meta["arch"] == "compact"
    with pytest.raises(ValueError, match="nothing to learn"):
        train(_cfg(tiny_data, tmp_path / "b", steps=1, content_weight=0.0, style_weight=0.0))


def test_zoo_jobs_become_trainer_commands(tmp_path):
    import argparse

    from trainers.zoo import job_command, job_name
    args = argparse.Namespace(data="D", styles="S", out=str(tmp_path), max_minutes=5.0, vgg_weights=None, resume=False)
    cmd = job_command("candy/compact/style-size=512", args)
    assert cmd[cmd.index("--arch") + 1] == "compact" and cmd[cmd.index("--style-size") + 1] == "512"
    assert cmd[cmd.index("--out") + 1].endswith("candy_compact_style-size512/candy.compact.onnx")
    assert job_name("starry/johnson/style-weight=3e9") == "starry_johnson_style-weight3e9"
    with pytest.raises(SystemExit):
        job_command("nosuch/johnson", args)


def test_synthetic_motion_has_the_known_flow_and_mask():
    from trainers.temporal_loss import homography_grid, move, valid_mask

    x = torch.rand(2, 3, 16, 24)
    identity = torch.eye(3).expand(2, 3, 3)
    grid = homography_grid(identity, 16, 24)
    torch.testing.assert_close(move(x, grid), x)
    assert valid_mask(grid).min() == 1
    shift = torch.eye(3).repeat(2, 1, 1)
    shift[:, 0, 2] = 2 * 3 / 24          # sample 3 pixels to the right: content moves left
    grid = homography_grid(shift, 16, 24)
    torch.testing.assert_close(move(x, grid)[..., :-3], x[..., 3:])
    mask = valid_mask(grid)
    assert mask[..., :-3].min() == 1 and mask[..., -3:].max() == 0


def test_temporal_loss_is_zero_only_for_a_stable_net():
    from trainers.temporal_loss import SyntheticMotion, TemporalLoss

    loss = TemporalLoss(1.0, SyntheticMotion(noise=0.0, brightness=0.0))
    x = torch.rand(3, 3, 32, 32)
    moved, grid, mask = loss.pair(x, torch.Generator().manual_seed(0))
    assert 0.5 < mask.mean() < 1.0                         # some pixels come from outside the frame
    assert loss(x, moved, grid, mask).item() < 1e-4        # the identity "net" follows the motion exactly
    pattern = torch.rand(1, 3, 32, 32)                     # a texture glued to the screen does not
    assert loss((x + pattern) / 2, (moved + pattern) / 2, grid, mask).item() > 1e-2


@needs_vgg
def test_temporal_weight_makes_a_net_more_stable(tiny_data, tmp_path, monkeypatch):
    from trainers.fast_nst import train
    from trainers.temporal_loss import TemporalLoss

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    runs = {w: train(_cfg(tiny_data, tmp_path / str(w), steps=40, temporal_weight=w))["history"] for w in (0.0, 1e9)}
    assert all(r["temporal"] == 0 for r in runs[0.0]) and all(r["temporal"] > 0 for r in runs[1e9])
    # Score both final nets on the same moved batches, with the same metric.
    from trainers.data import ImageFolderSampler
    from stylenets.checkpoints import load_style_checkpoint

    sampler, probe = ImageFolderSampler(str(tiny_data[0]), 32, seed=5), TemporalLoss(1.0)
    scores = {}
    for w in runs:
        model, _ = load_style_checkpoint(tmp_path / str(w) / "run" / "checkpoint.pt")
        with torch.no_grad():
            total = 0.0
            for i in range(4):
                x = sampler.batch(i, 4)
                moved, grid, mask = probe.pair(x, torch.Generator().manual_seed(i))
                total += probe(model(x), model(moved), grid, mask).item()
        scores[w] = total
    assert scores[1e9] < 0.5 * scores[0.0], scores


@needs_vgg
def test_ddp_two_processes(tiny_data, tmp_path):
    """Real torchrun, two CPU processes over gloo, then the export of rank 0's model."""
    data, style = tiny_data
    out = tmp_path / "ddp.onnx"
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trainers.fast_nst", "--style-image", str(style), "--data", str(data), "--out", str(out),
           "--size", "32", "--style-size", "64", "--batch", "2", "--steps", "4", "--width", "4", "--res-blocks", "1",
           "--vgg-weights", str(VGG_WEIGHTS), "--checkpoint-every", "2", "--sample-every", "100"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.is_file() and out.with_suffix(".pt").is_file() and out.with_suffix(".fp16.onnx").is_file()
    ckpt = torch.load(tmp_path / "ddp.run" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 4


@pytest.mark.parametrize("arch", ["johnson", "compact"])
def test_export_parity_and_metadata(tmp_path, arch):
    from exports.formats import ExportParityError, export_all, export_onnx, read_metadata
    from stylenets.transformer_net import build

    net = build(arch, width=4, res_blocks=1)
    meta = {"kind": "stylestream.style", "name": "t", "train_size": 32, "steps": 3, "style_sha256": "ab", **net.config()}
    res = export_all(net, tmp_path / "t.onnx", meta)
    assert res["onnx"][1] < 1e-4 and res["onnx-fp16"][1] < 2e-2 and res["torchscript"][1] < 1e-5
    for variant in ("t.onnx", "t.fp16.onnx", "t.pt"):
        m = read_metadata(tmp_path / variant)
        assert m["name"] == "t" and m["arch"] == arch and str(m["steps"]) == "3"
    import onnx
    model = onnx.load(str(tmp_path / "t.onnx"))
    assert model.opset_import[0].version >= 17
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[2:] == ["height", "width"]
    # ONNX Runtime gets the folded net: no upsampled tensor, low-resolution convolutions instead.
    ops = {n.op_type for n in model.graph.node}
    assert "Resize" not in ops and ("ConvTranspose" in ops) == (arch == "johnson")
    assert ("SpaceToDepth" in ops) == (arch == "compact")     # pixel-unshuffle as one op

    class Broken(torch.nn.Module):  # exports fine, but ONNX cannot reproduce its data-dependent branch
        def forward(self, x):
            return x * 2 if bool(x.mean() > 0.5) else x

    with pytest.raises(ExportParityError):
        export_onnx(Broken(), tmp_path / "b.onnx", meta)
    assert not (tmp_path / "b.onnx").exists()


@pytest.mark.parametrize("arch", ["johnson", "compact"])
def test_folded_net_is_the_same_net_and_unfolds_back(arch):
    from stylenets.transformer_net import build

    torch.manual_seed(0)
    net = build(arch, width=8, res_blocks=1).eval()
    for p in net.parameters():              # far from the initialisation, so every tap matters
        torch.nn.init.normal_(p, std=0.3)
    fold = net.folded()
    x = torch.rand(2, 3, 28, 44)
    with torch.no_grad():
        torch.testing.assert_close(fold(x), net(x), atol=1e-5, rtol=0)
    ops = {"SpaceToDepth"} if arch == "compact" else set()
    back = net.unfold_state(fold.state_dict(), ops)
    assert back.keys() == net.state_dict().keys()
    for k, v in net.state_dict().items():
        torch.testing.assert_close(back[k], v, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "wrong"])
def test_vgg_weights_errors(tmp_path, kind):
    weights = tmp_path / "vgg.pth"
    if kind == "corrupt":
        weights.write_bytes(b"garbage" * 100)
    elif kind == "wrong":
        torch.save({"0.weight": torch.zeros(3, 3, 3, 3)}, weights)
    photos = tmp_path / "photos"
    photos.mkdir()
    import cv2
    cv2.imwrite(str(photos / "a.png"), np.zeros((8, 8, 3), np.uint8))
    proc = run_cli("train", "--style-image", photos / "a.png", "--data", photos, "--out", tmp_path / "m.onnx",
                   "--vgg-weights", weights, "--steps", "1")
    assert_clean_error(proc, "vgg16")


def test_vgg_env_variable_is_used(tmp_path, monkeypatch):
    from stylenets.perceptual import VggWeightsError, load_vgg16_features

    monkeypatch.setenv("STYLESTREAM_VGG_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(VggWeightsError, match="absent.pth"):
        load_vgg16_features()


@needs_vgg
def test_shared_vgg_weights_give_torchvision_scale_activations():
    """The README's sanity check: relu1_2 mean ≈ 0.5, relu3_3 ≈ 0.7 on a photo."""
    from trainers.data import read_image
    from stylenets.perceptual import VGGFeatures, load_vgg16_features

    photo = SHARED / "content" / "test" / "chicago.jpg"
    vgg = VGGFeatures(load_vgg16_features(VGG_WEIGHTS))
    with torch.no_grad():
        f = vgg(read_image(photo, 256)[None])
    assert 0.2 < f["relu1_2"].mean() < 1.0 and 0.3 < f["relu3_3"].mean() < 1.5


@needs_vgg
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_gatys_lowers_the_loss(tiny_data, optimizer):
    from trainers.data import read_image
    from stylenets.gatys import GatysConfig, optimize
    from stylenets.perceptual import VGGFeatures, load_vgg16_features

    data, style_path = tiny_data
    content = read_image(sorted(data.iterdir())[0])[None]
    style = read_image(style_path)[None]
    vgg = VGGFeatures(load_vgg16_features(VGG_WEIGHTS))
    seen = []
    out = optimize(content, style, vgg, GatysConfig(steps=15, optimizer=optimizer, scales=(0.5, 1.0)),
                   on_step=lambda i, losses: seen.append(losses["total"]))
    assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1
    from stylenets.perceptual import style_distances
    before = style_distances(vgg, content, content, style)["style"]
    after = style_distances(vgg, out, content, style)["style"]
    assert after < 0.9 * before, (before, after)


@needs_vgg
def test_image_optimize_and_eval_cli(tiny_data, tmp_path):
    data, style = tiny_data
    photo = sorted(data.iterdir())[0]
    out = tmp_path / "g.png"
    env = {"STYLESTREAM_VGG_WEIGHTS": str(VGG_WEIGHTS)}
    proc = run_cli("image", photo, "--optimize", "--style-image", style, "-o", out, "--steps", "10", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("eval", "style", out, photo, "--content", photo, "--style-image", style, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    import json
    rows = json.loads(proc.stdout)["results"]
    assert rows[1]["content"] == 0.0                      # the photo against itself
    assert rows[0]["style"] < rows[1]["style"]            # optimizing moved it toward the style
    assert_clean_error(run_cli("image", photo, "--optimize", "-o", out), "style-image")


@pytest.mark.parametrize("bad", ["missing_init", "garbage_init", "missing_data", "missing_vgg"])
def test_trainer_cli_bad_input_is_one_line(tiny_data, tiny_models, tmp_path, bad):
    """The trainer's command line reports a bad file in one line and exits 2, as stylestream does."""
    data, style = tiny_data
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    # Distillation only (no VGG) unless the case is about the VGG file itself.
    args = {"missing_init": ["--init", str(tmp_path / "nope.onnx")], "garbage_init": ["--init", str(garbage)],
            "missing_data": [], "missing_vgg": ["--style-weight", "1e10", "--vgg-weights", str(tmp_path / "no.pth")]}[bad]
    cmd = [sys.executable, "-m", "trainers.fast_nst", "--style-image", str(style), "--out", str(tmp_path / "m.onnx"),
           "--data", str(tmp_path / "no-photos") if bad == "missing_data" else str(data),
           "--arch", "johnson", "--width", "4", "--res-blocks", "1", "--size", "32", "--steps", "1",
           "--teacher", str(tiny_models["onnx"]), "--content-weight", "0", "--style-weight", "0", *args]
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_net_training_skips_non_finite_steps_gives_up_and_resumes(tmp_path):
    """NetTraining: a finite loss steps, a non-finite one leaves the weights alone, ten in a
    row end the run, and a saved state resumes at its step with its weights."""
    from trainers import services

    class Tiny(torch.nn.Linear):
        def config(self) -> dict:
            return {"arch": "tiny"}

    rt = services.Runtime(device=torch.device("cpu"))
    torch.manual_seed(0)
    training = services.NetTraining(Tiny(3, 1), 0.1, rt, "fp32", tmp_path)
    x = torch.ones(2, 3)
    before = training.net.weight.detach().clone()
    training.update(training.model(x).pow(2).mean())
    assert training.step == 1 and not torch.equal(training.net.weight, before)
    stepped = training.net.weight.detach().clone()
    training.update(training.model(x).sum() * float("nan"))
    assert training.step == 2 and torch.equal(training.net.weight, stepped)
    training.save({"note": "kept"})
    with pytest.raises(FloatingPointError, match="lower --lr"):
        for _ in range(services.NetTraining.MAX_BAD_STEPS):
            training.update(training.model(x).sum() * float("inf"))
    resumed = services.NetTraining(Tiny(3, 1), 0.1, rt, "fp32", tmp_path, resume=True)
    assert resumed.step == 2 and torch.equal(resumed.net.weight, stepped)


@needs_vgg
def test_a_bilinear_decoder_starts_from_a_nearest_net_and_round_trips_through_onnx(tiny_data, tmp_path, monkeypatch):
    """--upsample bilinear: --init from a nearest-neighbour net carries its weights over; the
    export keeps the mode in its metadata and the ONNX import rebuilds the same net; the
    compact net refuses the option."""
    from stylenets.checkpoints import load_style_checkpoint, load_style_net
    from trainers.fast_nst import train

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    train(_cfg(tiny_data, tmp_path / "a", steps=2))
    nearest = tmp_path / "a" / "run" / "checkpoint.pt"
    out = tmp_path / "b" / "m.onnx"
    train(_cfg(tiny_data, tmp_path / "b", steps=1, lr=0.0, init=str(nearest), upsample="bilinear", export=True,
               out=str(out)))
    start, _ = load_style_checkpoint(nearest)
    tuned = load_style_net(out, "--style")
    assert tuned.config()["upsample"] == "bilinear" and "upsample" not in start.config()
    for a, b in zip(start.state_dict().values(), tuned.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)       # lr 0: the nearest net's weights
    x = torch.rand(1, 3, 32, 44)
    with torch.no_grad():
        assert not torch.allclose(tuned(x), start(x), atol=1e-3)       # the same weights, upsampled otherwise
    with pytest.raises(ValueError, match="johnson"):
        train(_cfg(tiny_data, tmp_path / "c", steps=1, arch="compact", upsample="bilinear"))


def test_a_bilinear_net_exports_with_parity_and_runs_in_the_engines(tmp_path):
    import cv2

    from exports.formats import export_all
    from stylenets.transformer_net import build

    torch.manual_seed(0)
    net = build("johnson", width=4, res_blocks=1, upsample="bilinear").eval()
    meta = {"kind": "stylestream.style", "name": "b", "train_size": 32, "steps": 1, "style_sha256": "ab",
            **net.config()}
    res = export_all(net, tmp_path / "b.onnx", meta)
    assert res["onnx"][1] < 1e-4 and res["torchscript"][1] < 1e-5
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), (np.random.default_rng(0).random((40, 52, 3)) * 255).astype(np.uint8))
    outs = []
    for backend in ("onnxruntime", "openvino"):
        proc = run_cli("image", photo, "-o", tmp_path / f"{backend}.png", "--style", tmp_path / "b.onnx",
                       "--backend", backend)
        assert proc.returncode == 0, proc.stderr
        outs.append(cv2.imread(str(tmp_path / f"{backend}.png")).astype(int))
    assert np.abs(outs[0] - outs[1]).max() <= 2


@needs_vgg
def test_a_margin_exported_from_a_checkpoint_keeps_the_border_band_out(tiny_data, tmp_path, monkeypatch):
    """`python -m exports --margin`: the full net computes the picture on a replicate-padded
    border and crops it off; the export records it, the ONNX import rebuilds it, and the
    engines run it. The compact net has its own margin and refuses the option."""
    import torch.nn.functional as F

    from stylenets.checkpoints import load_style_checkpoint, load_style_net
    from stylenets.transformer_net import build
    from trainers.fast_nst import train

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    train(_cfg(tiny_data, tmp_path / "a", steps=1))
    checkpoint = tmp_path / "a" / "run" / "checkpoint.pt"
    out = tmp_path / "m.onnx"
    proc = subprocess.run([sys.executable, "-m", "exports", checkpoint, out, "--margin", "8"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    plain, _ = load_style_checkpoint(checkpoint)
    margined = load_style_net(out, "--style")
    assert margined.config()["margin"] == 8 and "margin" not in plain.config()
    assert build(**margined.config()).margin == 8
    x = torch.rand(1, 3, 32, 44)
    with torch.no_grad():
        want = plain.eval()(F.pad(x, (8, 8, 8, 8), mode="replicate"))[..., 8:-8, 8:-8]
        torch.testing.assert_close(margined(x), want, rtol=1e-4, atol=1e-5)
    write_photos(tmp_path, count=1, height=36, width=52)
    proc = run_cli("image", tmp_path / "p0.png", "-o", tmp_path / "o.png", "--style", out)
    assert proc.returncode == 0 and (tmp_path / "o.png").is_file(), proc.stderr
    train(_cfg(tiny_data, tmp_path / "c", steps=1, arch="compact"))
    bad = subprocess.run([sys.executable, "-m", "exports", tmp_path / "c" / "run" / "checkpoint.pt",
                          tmp_path / "c.onnx", "--margin", "8"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
