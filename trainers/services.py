"""Training services every trainer shares: distributed setup, mixed precision,
atomic checkpoints and resume, TensorBoard, progress bars.

A trainer's loop asks these for what it needs and knows nothing of how they work.
"""
from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from stylenets.checkpoints import load_state
from stylenets.devices import pick_device

T = TypeVar("T")


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_runtime(device: str = "auto") -> Runtime:
    """Joins the torchrun process group when launched by torchrun (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device)
    if world == 1:
        return Runtime(dev)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cpu":
        # Processes share the cores; oversubscription makes every one of them slower.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    return Runtime(dev, rank, world, local_rank)


def teardown_runtime(rt: Runtime) -> None:
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def run_training(device: str, body: Callable[[Runtime], T]) -> T:
    """`body(runtime)` inside the process group torchrun set up (if any), torn down afterwards.
    On success the ranks first meet at a barrier: rank 0 exports while the others are done,
    and gloo may abort a process whose peer tears its connections down meanwhile."""
    rt = setup_runtime(device)
    try:
        result = body(rt)
        if rt.distributed:
            dist.barrier()
        return result
    finally:
        teardown_runtime(rt)


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX). Without it oneDNN emulates
    bf16, and a training step takes several times longer than in fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(device: torch.device, precision: str) -> str:
    """'auto' is bf16 where the device computes it natively (CUDA that supports it, CPUs with
    AVX-512 BF16 or AMX), fp16 on older CUDA devices and fp32 on other CPUs."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if native_cpu_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    """`precision`: 'auto', 'bf16', 'fp16' or 'fp32'. CPU supports bf16 only; fp16 there falls back to fp32."""
    precision = resolve_precision(device, precision)
    if precision == "fp32" or (device.type == "cpu" and precision != "bf16"):
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16 on CUDA, whose small gradients underflow; a no-op otherwise."""
    precision = resolve_precision(device, precision)
    return torch.amp.GradScaler(device.type, enabled=device.type == "cuda" and precision == "fp16")


def seed_everything(seed: int, rank: int = 0) -> None:
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)


def seed_step(seed: int, step: int, rank: int = 0) -> None:
    """Seeds torch's global generator from (seed, step, rank), like the data sampler's batches:
    a resumed run draws what the uninterrupted one would have, and ranks draw differently."""
    torch.manual_seed(hash((seed, step, rank, 1)) & 0x7FFF_FFFF_FFFF)


def rng_state() -> dict:
    """Every generator's state as tensors and plain containers, so a checkpoint loads with
    weights_only=True (numpy's own state holds an ndarray, which that refuses)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else keys  # checkpoints that kept numpy's ndarray
    np.random.set_state((kind, keys.astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def all_finite(value: torch.Tensor, rt: Runtime) -> bool:
    """Whether `value` is finite on every rank: all ranks must take the same decision
    (skip or apply an update) or distributed training falls out of step."""
    ok = torch.isfinite(value.detach()).all().float()
    if rt.distributed:
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return bool(ok.item())


def time_is_up(start: float, max_minutes: float | None, rt: Runtime) -> bool:
    """Whether the wall-clock budget since `start` is spent, decided by rank 0 for every
    rank so that all stop at the same step."""
    if not max_minutes:
        return False
    up = torch.tensor(float(time.perf_counter() - start > max_minutes * 60), device=rt.device)
    if rt.distributed:
        dist.broadcast(up, src=0)
    return bool(up.item())


def mean_across_ranks(value: torch.Tensor, rt: Runtime) -> torch.Tensor:
    if rt.distributed:
        value = value.clone()
        dist.all_reduce(value)
        value /= rt.world_size
    return value


def average_gradients(module: torch.nn.Module, rt: Runtime) -> None:
    """DDP by hand, for trainers whose modules take turns (a GAN's G and D): one flat
    all-reduce of the gradients after backward, as stylegan2-ada does."""
    if not rt.distributed:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if params:
        flat = torch.cat([p.grad.flatten() for p in params])
        dist.all_reduce(flat)
        flat /= rt.world_size
        torch.nn.utils.vector_to_parameters(flat, [p.grad for p in params])


def broadcast_parameters(module: torch.nn.Module, rt: Runtime) -> None:
    """Rank 0's weights and buffers everywhere, as DDP does when it wraps a module."""
    if rt.distributed:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def atomic_save(obj, path: str | Path) -> None:
    """Write to a temporary name beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: str | Path, step: int, modules: dict, extra: dict | None = None) -> None:
    """`modules`: name → object with state_dict() (models, optimizers, schedulers)."""
    state = {"step": step, "rng": rng_state(), "extra": extra or {}}
    state.update({f"state/{k}": m.state_dict() for k, m in modules.items()})
    atomic_save(state, path)


def load_checkpoint(path: str | Path, modules: dict) -> tuple[int, dict]:
    """Restores `modules` and the RNG state in place; returns (step, extra)."""
    state = load_state(path)
    for k, m in modules.items():
        m.load_state_dict(state[f"state/{k}"])
    set_rng_state(state["rng"])
    return state["step"], state["extra"]


def resume_checkpoint(path: Path, modules: dict, arch_key: str, arch) -> tuple[int, dict]:
    """--resume: restores `modules` from `path` like load_checkpoint, refusing a missing
    checkpoint or one whose stored `extra[arch_key]` is not this run's architecture."""
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    step, extra = load_checkpoint(path, modules)
    if extra.get(arch_key) != arch:
        raise ValueError(f"checkpoint architecture {extra.get(arch_key)} differs from {arch}")
    return step, extra


class NetTraining:
    """One network trained by Adam: the optimizer, the grad scaler, the checkpointed state
    (resumed from `run_dir`/checkpoint.pt with `resume`) and, when distributed, the DDP
    wrapper. `model` is what the loop calls; `net` is the plain network it exports."""

    MAX_BAD_STEPS = 10      # non-finite losses in a row before the run gives up

    def __init__(self, net: torch.nn.Module, lr: float, rt: Runtime, precision: str, run_dir: Path,
                 resume: bool = False, clip_grad_norm: float = float("inf")):
        self.net, self.rt, self.clip_grad_norm = net, rt, clip_grad_norm
        self.optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        self.scaler = grad_scaler(rt.device, precision)
        self.state = {"model": net, "optimizer": self.optimizer,
                      **({"scaler": self.scaler} if self.scaler.is_enabled() else {})}
        self.checkpoint = Path(run_dir) / "checkpoint.pt"
        self.step, self.resumed_extra = 0, {}     # resumed_extra: what the checkpoint's save(extra) stored
        if resume:
            self.step, self.resumed_extra = resume_checkpoint(self.checkpoint, self.state, "model_config", net.config())
        self.model = net
        if rt.distributed:
            dev = rt.device
            self.model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda"
                                                                   else None)
        self._bad_steps = 0

    def update(self, loss: torch.Tensor) -> None:
        """One step on `loss`, skipped when the loss or the gradients are not finite (rather
        than poison the weights); FloatingPointError when that lasts MAX_BAD_STEPS steps."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip_grad_norm)
        if all_finite(loss + grad_norm, self.rt):
            self.scaler.step(self.optimizer)
            self._bad_steps = 0
        else:
            self._bad_steps += 1
            if self._bad_steps >= self.MAX_BAD_STEPS:
                raise FloatingPointError(f"loss non-finite for {self.MAX_BAD_STEPS} steps in a row at step "
                                         f"{self.step}; lower --lr")
        self.scaler.update()    # with fp16 loss scaling, an overflow lowers the scale for the next step
        self.step += 1

    def save(self, extra: dict | None = None) -> None:
        save_checkpoint(self.checkpoint, self.step, self.state, extra={"model_config": self.net.config(),
                                                                       **(extra or {})})


class Logger:
    """TensorBoard scalars/images and a tqdm bar, on the main process only."""

    def __init__(self, rt: Runtime, log_dir: str | Path | None, total: int, initial: int = 0, desc: str = "train"):
        self.rt = rt
        self.writer = None
        self.bar = None
        if not rt.is_main:
            return
        if log_dir:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(log_dir))
        from tqdm import tqdm
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True,
                        disable=os.environ.get("STYLESTREAM_NO_PROGRESS") == "1")

    def step(self, step: int, scalars: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in scalars.items()}, refresh=False)
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(f"loss/{k}", v, step)

    def metric(self, name: str, value: float, step: int) -> None:
        """An evaluation figure: TensorBoard under metrics/, and one line above the bar."""
        if self.writer is not None:
            self.writer.add_scalar(f"metrics/{name}", value, step)
        if self.bar is not None:
            self.bar.write(f"step {step}: {name} {value:.4g}")

    def image(self, tag: str, grid: torch.Tensor, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, grid, step)

    def grid(self, tag: str, images: torch.Tensor, path: Path, step: int, nrow: int) -> None:
        """Images in [0, 1] as one grid PNG (written atomically) and a TensorBoard image."""
        import torchvision

        grid = torchvision.utils.make_grid(images.float().clamp(0, 1), nrow=nrow)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        torchvision.utils.save_image(grid, str(tmp))
        os.replace(tmp, path)
        self.image(tag, grid, step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
