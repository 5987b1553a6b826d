"""What both implementations of the temporal method exchange: Motion, and the Temporal interface."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

Field = TypeVar("Field")      # numpy array (cpu.py) or torch tensor (torch.py)
Frame = TypeVar("Frame")


@dataclass
class Motion(Generic[Field]):
    """How the current source frame relates to the previous one, at flow resolution."""
    backward: Field | None      # for each current pixel, the offset (px) to where it was before
    mask: Field | None          # in [0, 1]: 1 where that offset is trusted
    cut: bool                   # no usable history (first frame, scene cut, resize, reset)


class Temporal(Protocol[Frame]):
    """One temporal method, two implementations (CpuTemporal, TorchTemporal). Per frame, in
    order: `estimate` on the source frame (flow stage), then `blend` on its stylization (blend
    stage). `concurrent`: whether estimate may run in another thread while frames are being
    inferred. `reset` forgets the history (a new style, a resumed camera)."""

    concurrent: bool

    def estimate(self, source: Frame) -> Motion: ...

    def blend(self, stylized: Frame, motion: Motion) -> Frame: ...

    def reset(self) -> None: ...
