"""StyleGAN: networks, regularizers, training, export, and `generate` / `dream`, on tiny models."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial

import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT, VGG_WEIGHTS, assert_clean_error, needs_vgg, probe, write_photos
from conftest import run_cli as _run_cli

# Models this small run fastest on one thread: fanning out costs more than it saves, and
# on a machine shared with another job, waiting threads stall each step (20× seen here).
run_cli = partial(_run_cli, env={"OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
TINY = dict(z_dim=16, w_dim=16, channel_base=256, channel_max=8)
TINY_ARGS = ["--z-dim", "16", "--w-dim", "16", "--channel-base", "256", "--channel-max", "8"]


def _generator(resolution=32, seed=0):
    from trainers.stylegan.networks import Generator

    torch.manual_seed(seed)
    G = Generator(resolution=resolution, **TINY).eval()
    with torch.no_grad():  # away from the initial zeros, so noise strengths and biases matter
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return G


def _style_layers(G):
    """(layer module, index of the style it takes), in synthesis order."""
    out, k = [], 0
    for block in G.synthesis.blocks:
        out += [(layer, k + i) for i, layer in enumerate(block.convs)] + [(block.torgb, k + len(block.convs))]
        k += len(block.convs)
    return out


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_shapes_at_each_resolution(resolution):
    from trainers.stylegan.networks import Discriminator

    G = _generator(resolution)
    D = Discriminator(resolution, TINY["channel_base"], TINY["channel_max"])
    z = torch.randn(3, TINY["z_dim"])
    ws = G.styles(z)
    assert G.num_ws == 2 * int(np.log2(resolution)) - 2 == ws.shape[1] and ws.shape == (3, G.num_ws, 16)
    with torch.no_grad():
        img = G(z)
        assert img.shape == (3, 3, resolution, resolution) and torch.isfinite(img).all()
        assert D(img).shape == (3, 1)
    assert sorted({w for _, w in _style_layers(G)}) == list(range(G.num_ws))  # every style used, none beyond


def test_truncation_psi_0_is_the_average_image_and_psi_1_the_plain_one():
    G = _generator()
    with torch.no_grad():
        before = G.mapping.w_avg.clone()
        w = G.mapping(torch.randn(64, 16), track_w_avg=True)
        torch.testing.assert_close(G.mapping.w_avg, w.mean(0).lerp(before, G.mapping.w_avg_beta))
        assert G.mapping.w_avg.abs().sum() > 0
        z = torch.randn(4, 16)
        average = G.synthesis(G.mapping.w_avg.expand(4, G.num_ws, -1))
        torch.testing.assert_close(G(z, psi=0.0), average)
        plain = G.synthesis(G.mapping(z).unsqueeze(1).expand(-1, G.num_ws, -1))
        torch.testing.assert_close(G(z, psi=1.0), plain)
        assert (G(z, psi=1.0)[0] - G(z, psi=1.0)[1]).abs().max() > 1e-2      # different latents differ...
        w_half = G.mapping(z, psi=0.5)
        torch.testing.assert_close(w_half, G.mapping.w_avg + 0.5 * (G.mapping(z) - G.mapping.w_avg))


def test_mixing_changes_only_the_layers_from_the_crossover():
    G = _generator()
    layers = _style_layers(G)
    seen: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(i, out.clone()))
             for i, (m, _) in enumerate(layers)]
    z1, z2 = torch.randn(2, 16), torch.randn(2, 16)
    with torch.no_grad():
        plain = G(z1)
        plain_out = dict(seen)
        for crossover in (2, 5):
            mixed = G(z1, z_mix=z2, mix_layer=crossover)
            for i, (_, w_index) in enumerate(layers):
                same = torch.equal(seen[i], plain_out[i])
                assert same == (w_index < crossover), (crossover, i, w_index)
            assert not torch.equal(mixed, plain)
        torch.testing.assert_close(G(z1, z_mix=z2, mix_layer=G.num_ws), plain)  # crossover past the end: no mixing
        torch.testing.assert_close(G(z1, z_mix=z2, mix_layer=0), G(z2))      # crossover at 0: all z_mix
    for h in hooks:
        h.remove()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_r1_and_path_length_give_finite_gradients(precision):
    from trainers import services
    from trainers.stylegan.augment import DiffAugment
    from trainers.stylegan.loss import StyleGAN2Loss
    from trainers.stylegan.networks import Discriminator

    G, D = _generator().train(), Discriminator(32, TINY["channel_base"], TINY["channel_max"])
    cpu = torch.device("cpu")
    loss = StyleGAN2Loss(G, D, r1_gamma=1.0, pl_weight=2.0, augment=DiffAugment(),
                         autocast=partial(services.autocast, cpu, precision))
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    d = loss.discriminator_loss(real, step=0)      # step 0: the lazy R1 runs
    assert d["r1"] > 0 and torch.isfinite(d["total"])
    d["total"].backward()
    grads = [p.grad for p in D.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    D.zero_grad()
    D.requires_grad_(False)
    g = loss.generator_loss(4, cpu, step=0)        # step 0: the lazy path-length penalty runs
    assert g["pl"] > 0 and torch.isfinite(g["total"]) and loss.pl_mean > 0
    g["total"].backward()
    grads = {n: p.grad for n, p in G.named_parameters()}
    assert all(v is not None and torch.isfinite(v).all() for v in grads.values()), [n for n, v in grads.items() if v is None]
    assert grads["synthesis.blocks.1.convs.0.noise_strength"].abs() > 0      # noise strengths learn
    assert loss.discriminator_loss(real, step=1)["r1"] == 0 and loss.generator_loss(4, cpu, step=1)["pl"] == 0


def test_diff_augment_keeps_shape_and_passes_gradients():
    from trainers.stylegan.augment import DiffAugment, cutout, translation

    x = torch.rand(5, 3, 16, 16, requires_grad=True)
    y = DiffAugment()(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    torch.manual_seed(0)
    shifted = translation(torch.ones(8, 1, 16, 16))
    assert ((shifted == 0).flatten(1).any(1)).float().mean() > 0.5   # most images moved, zeros slid in
    assert (cutout(torch.ones(8, 1, 16, 16)) == 0).any()
    with pytest.raises(ValueError, match="unknown augmentation"):
        DiffAugment(("flip",))


# ------------------------------------------------------------------ training

@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return write_photos(tmp_path_factory.mktemp("gan-photos"))


def _cfg(folder, tmp_path, **kw):
    from trainers.stylegan.config import GanConfig

    base = dict(data=str(folder), out=str(tmp_path / "g.onnx"), resolution=32, steps=4, batch=4, metric_every=0,
                checkpoint_every=2, sample_every=2, export=False, workdir=str(tmp_path / "run"),
                augment=["color", "translation", "cutout"], r1_interval=2, pl_interval=2, **TINY)
    base.update(kw)
    return GanConfig(**base)


def test_resume_reproduces_the_uninterrupted_run(tiny_folder, tmp_path, monkeypatch):
    from trainers.stylegan.training_loop import load_checkpoint_generator, train

    monkeypatch.setenv("STYLESTREAM_NO_PROGRESS", "1")
    full = train(_cfg(tiny_folder, tmp_path / "a"))["history"]
    train(_cfg(tiny_folder, tmp_path / "b", steps=2))
    resumed = train(_cfg(tiny_folder, tmp_path / "b", resume=True))["history"]
    assert [r["step"] for r in resumed] == [3, 4]
    keys = ("d_real", "d_fake", "r1", "g", "pl", "pl_mean")
    np.testing.assert_allclose([[r[k] for k in keys] for r in resumed], [[r[k] for k in keys] for r in full[2:]],
                               rtol=1e-4)
    a, _ = load_checkpoint_generator(tmp_path / "a" / "run" / "checkpoint.pt")
    b, _ = load_checkpoint_generator(tmp_path / "b" / "run" / "checkpoint.pt")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, msg=name)
    assert any(r["r1"] > 0 for r in full) and any(r["pl"] > 0 for r in full)


@needs_vgg
def test_train_gan_cli_runs_evaluates_exports_and_resumes(tiny_folder, tmp_path):
    out = tmp_path / "g.onnx"
    args = ["train-gan", "--data", tiny_folder, "--resolution", "32", "--out", out, "--batch", "4",
            *TINY_ARGS, "--metric-every", "2", "--metric-samples", "16", "--fid-features", "vgg16",
            "--vgg-weights", VGG_WEIGHTS, "--sample-every", "2", "--checkpoint-every", "2", "--augment", "translation"]
    proc = run_cli(*args, "--steps", "4", "--no-export")
    assert proc.returncode == 0, proc.stderr
    assert "FID-VGG16" in proc.stdout and "FID " not in proc.stdout.replace("FID-VGG16", "")
    run = tmp_path / "g.run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and {r["metric"] for r in rows} == {"FID-VGG16"}
    assert all(np.isfinite(r["value"]) and r["value"] > 0 for r in rows)
    assert (run / "samples" / "step000004.png").is_file() and list((run / "tb").glob("events.out.tfevents.*"))
    proc = run_cli(*args, "--steps", "6", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 6
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [2, 4, 6]
    assert "exported onnx" in proc.stdout and out.is_file() and out.with_suffix(".pt").is_file()
    from stylenets.metadata import read_metadata
    meta = read_metadata(out)
    assert meta["kind"] == "stylestream.generator" and meta["steps"] == "6" and meta["metric"] == "FID-VGG16"


def test_ddp_two_processes(tiny_folder, tmp_path):
    """Real torchrun, two CPU processes over gloo: gradients averaged by hand, one export."""
    out = tmp_path / "ddp.onnx"
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trainers.stylegan", "--data", str(tiny_folder), "--out", str(out), "--resolution", "32",
           "--batch", "2", "--steps", "2", *TINY_ARGS, "--metric-every", "0", "--checkpoint-every", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.is_file() and out.with_suffix(".pt").is_file()
    assert torch.load(tmp_path / "ddp.run" / "checkpoint.pt", weights_only=True)["step"] == 2


def test_train_gan_bad_input(tmp_path, tiny_folder):
    assert_clean_error(run_cli("train-gan", "--data", tiny_folder, "--out", tmp_path / "g.onnx", "--resolution", "48"),
                       "--resolution")
    assert_clean_error(run_cli("train-gan", "--data", tmp_path / "none", "--out", tmp_path / "g.onnx"), "not found")
    assert_clean_error(run_cli("train-gan", "--data", tiny_folder, "--out", tmp_path / "g.onnx", "--crop-scale", "0.5",
                               "0.1"), "--crop-scale")


# ------------------------------------------------------------------ export and runtime

@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    from exports.generator import export_generator

    G = _generator()
    path = tmp_path_factory.mktemp("gen") / "gen.onnx"
    parity = export_generator(G, path, {"kind": "stylestream.generator", "name": "tiny", "steps": 0})
    return {"onnx": path, "pt": path.with_suffix(".pt"), "G": G, "parity": parity}


def test_export_parity_and_metadata(tiny_generator):
    import onnxruntime as ort

    from stylenets.metadata import read_metadata

    p = tiny_generator["parity"]
    assert p["onnx"][1] < 1e-4 and p["torchscript"][1] < 1e-5
    G = tiny_generator["G"]
    for variant in ("onnx", "pt"):
        m = read_metadata(tiny_generator[variant])
        assert m["kind"] == "stylestream.generator" and int(m["num_ws"]) == G.num_ws and m["resolution"] == "32"
    # Inputs the parity check did not use: a batch of 5, crossover 3, psi 0.3.
    sess = ort.InferenceSession(str(tiny_generator["onnx"]), providers=["CPUExecutionProvider"])
    z, z_mix = torch.randn(5, 16), torch.randn(5, 16)
    feed = {"z": z.numpy(), "z_mix": z_mix.numpy(), "mix_layer": np.array(3), "psi": np.array(0.3, np.float32),
            "noise_mode": np.array(1)}
    with torch.no_grad():
        ref = (G(z, psi=0.3, z_mix=z_mix, mix_layer=3) * 0.5 + 0.5).clamp(0, 1).numpy()
    np.testing.assert_allclose(sess.run(None, feed)[0], ref, atol=1e-4)
    # Random noise: fresh each call, and not the constant noise.
    feed["noise_mode"] = np.array(2)
    a, b = sess.run(None, feed)[0], sess.run(None, feed)[0]
    assert np.isfinite(a).all() and np.abs(a - b).max() > 1e-3 and np.abs(a - ref).max() > 1e-3


def test_engines_agree(tiny_generator):
    from stylestream.generator import GeneratorEngine, seed_latents

    a, b = GeneratorEngine(tiny_generator["onnx"], "cpu"), GeneratorEngine(tiny_generator["pt"], "cpu")
    z = seed_latents([1, 2, 3], a.z_dim)
    ia, ib = a(z, psi=0.7), b(z, psi=0.7)
    assert ia.shape == (3, 32, 32, 3) and ia.dtype == np.uint8
    assert np.abs(ia.astype(int) - ib).max() <= 1


def _same(a, b) -> bool:
    """Equal up to one 8-bit level: batches of other sizes may round differently."""
    return np.abs(a.astype(int) - b).max() <= 1


def _tiles(path, res):
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    return img, [[img[r:r + res, c:c + res] for c in range(0, w, res)] for r in range(0, h, res)]


def test_generate_grids(tiny_generator, tmp_path):
    gen = tiny_generator["onnx"]
    out = tmp_path / "grid.png"
    proc = run_cli("generate", "--generator", gen, "--seeds", "1-4", "--trunc", "0.7", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    img, tiles = _tiles(out, 32)
    assert img.shape == (64, 64, 3) and json.loads(proc.stdout)["seeds"] == [1, 2, 3, 4]
    assert np.abs(tiles[0][0].astype(int) - tiles[0][1]).max() > 10       # seeds differ
    proc = run_cli("generate", "--generator", gen, "--seeds", "3,1-2", "--cols", "3", "--trunc", "0.7", "-o", out)
    assert proc.returncode == 0, proc.stderr
    again, row = _tiles(out, 32)
    assert again.shape == (32, 96, 3) and _same(row[0][1], tiles[0][0])  # seed 1 is seed 1 anywhere
    assert run_cli("generate", "--generator", gen, "--seeds", "1-4", "--trunc", "0", "-o", out).returncode == 0
    _, avg = _tiles(out, 32)
    assert all(_same(t, avg[0][0]) for r in avg for t in r)       # ψ = 0: the average image

    mix, grids = tmp_path / "mix.png", {}
    for crossover, same_as in (("0", "column"), ("4", None), ("8", "row")):  # 8 style layers at 32 px
        proc = run_cli("generate", "--generator", gen, "--mix", "1-2", "5-7", "--crossover", crossover, "-o", mix)
        assert proc.returncode == 0, proc.stderr
        img, t = _tiles(mix, 32)
        assert img.shape == (3 * 32, 4 * 32, 3) and (t[0][0] == 255).all()
        grids[crossover] = img
        for i in (1, 2):
            for j in (1, 2, 3):
                if same_as == "column":
                    assert _same(t[i][j], t[0][j])
                elif same_as == "row":
                    assert _same(t[i][j], t[i][0])
                else:
                    assert not _same(t[i][j], t[0][j]) and not _same(t[i][j], t[i][0])
    proc = run_cli("generate", "--generator", tiny_generator["pt"], "--mix", "1-2", "5-7", "-o", mix, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["crossover"] == 4 and _same(_tiles(mix, 32)[0], grids["4"])  # TorchScript agrees


def test_dream_records_the_asked_frames(tiny_generator, tmp_path):
    out = tmp_path / "walk.mp4"
    proc = run_cli("dream", "--generator", tiny_generator["onnx"], "--no-window", "--record", out,
                   "--frames", "12", "--key-seconds", "0.2", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["frames"] == s["recorded_frames"] == 12 and s["generator_fps"] > 0
    got = probe(out)
    assert got["frames"] == 12 and got["sizes"] == {(32, 32)}
    assert got["video_times"][-1] == pytest.approx(11 / 30, abs=1e-3)     # frame-counted timestamps at --fps
    proc = run_cli("dream", "--generator", tiny_generator["pt"], "--no-window", "--record", out,
                   "--frames", "5", "--size", "48", "--fps", "10")
    assert proc.returncode == 0, proc.stderr
    got = probe(out)
    assert got["frames"] == 5 and got["sizes"] == {(48, 48)} and got["video_times"][-1] == pytest.approx(0.4)


def test_latent_walk_is_smooth_and_passes_its_keyframes():
    from stylestream.generator import LatentWalk, seed_latents

    walk = LatentWalk(64, seed=7, frames_per_key=10)
    np.testing.assert_allclose(walk(0), seed_latents([7], 64)[0], rtol=1e-6)
    np.testing.assert_allclose(walk(10), seed_latents([8], 64)[0], rtol=1e-6)
    steps = [np.linalg.norm(walk(i + 1) - walk(i)) for i in range(30)]
    assert max(steps) < 3 * np.median(steps)                        # no jumps
    norms = [np.linalg.norm(walk(i)) for i in range(30)]
    assert min(norms) > 0.9 * np.sqrt(64) * 0.8                     # slerp stays near the Gaussian shell


def test_generator_bad_input(tiny_generator, tiny_models, tmp_path):
    gen = tiny_generator["onnx"]
    assert_clean_error(run_cli("generate", "--generator", tiny_models["onnx"], "-o", tmp_path / "g.png"),
                       "not a generator")
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((8, 8, 3), np.uint8))
    assert_clean_error(run_cli("image", tmp_path / "x.png", "--style", gen), "not a style model")
    assert_clean_error(run_cli("generate", "--generator", gen, "--seeds", "4-1", "-o", tmp_path / "g.png"), "seed")
    assert_clean_error(run_cli("generate", "--generator", gen, "--seeds", "x", "-o", tmp_path / "g.png"), "seed")
    assert_clean_error(run_cli("generate", "--generator", gen, "--trunc", "2", "-o", tmp_path / "g.png"), "--trunc")
    assert_clean_error(run_cli("generate", "--generator", gen, "--mix", "1", "2", "--crossover", "99",
                               "-o", tmp_path / "g.png"), "--crossover")
    assert_clean_error(run_cli("generate", "--generator", gen, "-o", tmp_path / "none" / "g.png"), "does not exist")
    assert_clean_error(run_cli("dream", "--generator", gen, "--no-window"), "--record")
    assert_clean_error(run_cli("dream", "--generator", tmp_path / "absent.onnx", "--no-window", "--record",
                               tmp_path / "a.mp4"), "not found")
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*partial*"))
    if sys.platform.startswith("linux"):  # without a display OpenCV's Qt would abort the process
        assert_clean_error(run_cli("dream", "--generator", gen, env={"DISPLAY": "", "WAYLAND_DISPLAY": "",
                                                                    "OMP_NUM_THREADS": "1"}), "--no-window")


def test_dream_interrupted_keeps_a_playable_file(tiny_generator, tmp_path):
    import signal
    import time

    out = tmp_path / "walk.mp4"
    env = {**os.environ, "STYLESTREAM_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "stylestream", "dream", "--generator", str(tiny_generator["onnx"]),
                             "--no-window", "--record", str(out), "--seconds", "600", "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".walk.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    s = json.loads(stdout)
    assert s["interrupted"] and s["signal"] == "SIGINT" and s["recorded_frames"] > 0
    assert probe(out)["frames"] == s["recorded_frames"] and not list(tmp_path.glob(".walk.partial-*"))


def test_fid_falls_back_to_vgg16_and_says_so(monkeypatch):
    from trainers.stylegan import metrics

    def offline(device):
        raise OSError("no network")

    monkeypatch.setattr(metrics, "InceptionPool", offline)
    said = []
    if VGG_WEIGHTS.is_file():
        extractor = metrics.feature_extractor("auto", str(VGG_WEIGHTS), torch.device("cpu"), log=said.append)
        assert extractor.label == "FID-VGG16" and "FID-VGG16 instead of FID" in said[0]
        assert extractor(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError, match="--fid-features vgg16"):
        metrics.feature_extractor("inception", None, torch.device("cpu"))


def test_frechet_distance_known_values():
    from trainers.stylegan.metrics import frechet_distance

    rng = np.random.default_rng(0)
    d1, d2, mu1, mu2 = rng.random(5) + 0.1, rng.random(5) + 0.1, rng.random(5), rng.random(5)
    expected = np.square(mu1 - mu2).sum() + (d1 + d2 - 2 * np.sqrt(d1 * d2)).sum()   # commuting covariances
    assert frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2)) == pytest.approx(expected)
    a = rng.random((5, 5))
    assert abs(frechet_distance(mu1, a @ a.T, mu1, a @ a.T)) < 1e-9
