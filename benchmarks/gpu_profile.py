"""Where the GPU frame time goes: the full net at 1080p in each memory layout and precision,
with and without torch.compile, and the GPU temporal-consistency parts on their own.

    python benchmarks/gpu_profile.py
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, iters=50) -> float:
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return round((time.perf_counter() - t0) / iters * 1000, 3)


@torch.no_grad()
def main() -> None:
    from stylestream.backends.torch import net_from_onnx
    from stylestream.temporal.torch import TorchTemporal, consistency_mask, lucas_kanade
    from stylestream.zoo import zoo_models

    torch.backends.cudnn.benchmark = True
    net, _ = net_from_onnx(zoo_models()["starry"]["johnson"])
    net = net.cuda()
    rows = {}
    for fmt_name, fmt in (("channels_last", torch.channels_last), ("nchw", torch.contiguous_format)):
        for dtype in (torch.float16, torch.bfloat16):
            n = net.to(dtype).to(memory_format=fmt)
            x = torch.rand(1, 3, 1080, 1920, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
            rows[f"johnson 1080p {fmt_name} {dtype}"] = timed(lambda: n(x))
            print(json.dumps(rows), flush=True)
    try:
        n = net.to(torch.float16).to(memory_format=torch.contiguous_format)
        x = torch.rand(1, 3, 1080, 1920, device="cuda", dtype=torch.float16)
        t0 = time.perf_counter()
        c = torch.compile(n)
        c(x)
        rows["compile seconds"] = round(time.perf_counter() - t0, 1)
        rows["johnson 1080p nchw fp16 compiled"] = timed(lambda: c(x))
    except Exception as exc:
        rows["compile error"] = str(exc)[:200]
    print(json.dumps(rows), flush=True)

    frame = torch.rand(1, 3, 1080, 1920, device="cuda")
    t = TorchTemporal()
    t.blend(frame, t.estimate(frame))
    rows["temporal whole 1080p"] = timed(lambda: t.blend(frame, t.estimate(frame)), 20)
    g = t._gray(frame)
    rows["gray"] = timed(lambda: t._gray(frame), 20)
    rows["lucas_kanade x1 at flow size"] = timed(lambda: lucas_kanade(g, g), 20)
    fl = lucas_kanade(g, g)
    rows["consistency_mask"] = timed(lambda: consistency_mask(fl, fl), 20)
    print(json.dumps(rows, indent=1), flush=True)


if __name__ == "__main__":
    main()
