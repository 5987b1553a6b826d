"""The PyTorch CUDA path's stylizer: frames kept on the GPU from upload to download, and
temporal consistency on the GPU (temporal_torch). Its engine, backends.torch.TorchEngine,
runs the net in fp16 with CUDA graphs.
"""
from __future__ import annotations

import numpy as np

from stylestream.stylizer import Stylizer, finish, processing_plan


class TorchStylizer(Stylizer):
    """Stylizer whose frames stay on the GPU: upload through pinned memory, resize, net,
    temporal blend and resize back on the device, one download of the finished frame."""

    def __post_init__(self):
        super().__post_init__()
        import torch

        self.torch, self.pinned = torch, self.engine.dev.type == "cuda"
        self._host_in: dict[tuple, object] = {}
        self._host_out: dict[tuple, object] = {}

    def temporal_parts(self, strength: float):
        from stylestream.temporal_torch import TorchTemporal
        return None, TorchTemporal(strength)

    def _host_buffer(self, buffers: dict, shape: tuple):
        """A uint8 host buffer kept per shape, page-locked on CUDA so copies run asynchronously."""
        if shape not in buffers:
            buffers[shape] = self.torch.empty(shape, dtype=self.torch.uint8, pin_memory=self.pinned)
        return buffers[shape]

    def _upload(self, frame: np.ndarray):
        host = self._host_buffer(self._host_in, frame.shape)
        host.numpy()[...] = frame
        x = host.to(self.engine.dev, non_blocking=True)
        return x.permute(2, 0, 1)[None].float().mul_(1 / 255)

    def _download(self, y) -> np.ndarray:
        torch = self.torch
        img = (y[0].float() * 255 + 0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
        host = self._host_buffer(self._host_out, tuple(img.shape))
        host.copy_(img, non_blocking=True)
        if self.pinned:
            torch.cuda.current_stream().synchronize()
        return host.numpy().copy()            # the pinned buffer is reused by the next frame

    def __call__(self, frame: np.ndarray, motion=None, temporal=None, styled=None,
                 scale_back: bool = True) -> np.ndarray:
        # One frame at a time on the GPU, so nothing is inferred ahead (`styled` stays None);
        # the frame is scaled back on the device whatever `scale_back` says (it costs nothing there).
        F = self.torch.nn.functional
        h, w = frame.shape[:2]
        pw, ph, pad_r, pad_b = processing_plan(w, h, self.max_size, self.engine.multiple)
        with self.torch.no_grad():
            x = self._upload(frame)
            small = x if (pw, ph) == (w, h) else F.interpolate(x, size=(ph, pw), mode="area")
            padded = F.pad(small, (0, pad_r, 0, pad_b), mode="reflect") if pad_r or pad_b else small
            y = self.engine.run(padded)[..., :ph, :pw]
            if temporal is not None:
                y = temporal(y.float(), small)
            if (pw, ph) != (w, h):
                y = F.interpolate(y.float(), size=(h, w), mode="bilinear", align_corners=False)
            out = self._download(y)
        return finish(out, frame, self.strength, self.keep_color)
