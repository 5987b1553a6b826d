"""The PyTorch CUDA path's stylizer: frames kept on the GPU from upload to download, and
temporal consistency on the GPU (temporal.torch). Its engine, backends.torch.TorchEngine,
runs the net in fp16 with CUDA graphs.
"""
from __future__ import annotations

import numpy as np

from stylestream.stylizer import Stylizer, finish, processing_plan
from stylestream.temporal import DEFAULT_STRENGTH, Temporal


class TorchStylizer(Stylizer):
    """Stylizer whose frames stay on the GPU: upload through pinned memory, resize, net,
    temporal blend and resize back on the device, one download of the finished frame."""

    def __post_init__(self):
        super().__post_init__()
        import torch

        self.torch, self.pinned = torch, self.engine.dev.type == "cuda"
        self._host_in: dict[tuple, object] = {}
        self._host_out: dict[tuple, object] = {}

    def temporal(self, strength: float = DEFAULT_STRENGTH) -> Temporal:
        from stylestream.temporal.torch import TorchTemporal
        return TorchTemporal(strength)

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

    def prepare(self, frame: np.ndarray):
        """The frame on the device at the processing size, 1×3×h×w float in [0, 1]: what `infer`
        and the temporal method's `estimate` take."""
        F = self.torch.nn.functional
        h, w = frame.shape[:2]
        pw, ph, _, _ = processing_plan(w, h, self.max_size, self.engine.multiple)
        with self.torch.no_grad():
            x = self._upload(frame)
            return x if (pw, ph) == (w, h) else F.interpolate(x, size=(ph, pw), mode="area")

    def infer(self, small):
        """The prepared frame stylized, on the device, in the engine's precision: a view of the
        engine's output, valid until its next call. One frame at a time on the GPU."""
        ph, pw = small.shape[-2:]
        multiple = self.engine.multiple
        pad_r, pad_b = -pw % multiple, -ph % multiple     # processing sizes are padded, never resized, to it
        with self.torch.no_grad():
            padded = self.torch.nn.functional.pad(small, (0, pad_r, 0, pad_b), mode="reflect") \
                if pad_r or pad_b else small
            return self.engine.run(padded)[..., :ph, :pw]

    def deliver(self, styled, frame: np.ndarray, scale_back: bool = True) -> np.ndarray:
        """Scaled back to the frame's size on the device whatever `scale_back` says (it costs
        nothing there), one download, then --strength and --preserve-color."""
        h, w = frame.shape[:2]
        with self.torch.no_grad():
            if tuple(styled.shape[-2:]) != (h, w):
                styled = self.torch.nn.functional.interpolate(styled.float(), size=(h, w), mode="bilinear",
                                                              align_corners=False)
            out = self._download(styled)
        return finish(out, frame, self.strength, self.keep_color)
