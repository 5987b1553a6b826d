"""Timed style changes for a video file: `--style-schedule "0:starry,10s:candy,250f:mosaic"`,
each style from its time on (seconds, `s` optional, or a frame number with `f`), with
`--crossfade D` blending each style into the next over D from its time.

Every scheduled style's engine is opened once, before the first frame. The optical flow is
one per frame, from the source; the temporal history is one per style: a style that starts
starts a history of its own (a hard switch resets it), and across a crossfade each of the
two styles is blended with its own history before the two are mixed, so neither drags the
other's texture along the flow.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from stylestream.errors import UserError
from stylestream.sources import VideoItem
from stylestream.stylizer import Stylizer
from stylestream.temporal import Temporal

SCHEDULE_OPTION, CROSSFADE_OPTION = "--style-schedule", "--crossfade"
FRAME_SUFFIX, SECOND_SUFFIX = "f", "s"


@dataclass(frozen=True)
class Moment:
    """A time in a video: `value` seconds, or frame number `value` when `frames`."""
    value: Fraction
    frames: bool

    def seconds(self, rate: Fraction) -> Fraction:
        return self.value / rate if self.frames else self.value

    def __str__(self) -> str:
        return f"{self.value}{FRAME_SUFFIX}" if self.frames else f"{float(self.value):g}{SECOND_SUFFIX}"


def parse_moment(text: str, option: str) -> Moment:
    """`12`, `12.5s` (seconds) or `300f` (a frame number); UserError naming `option` otherwise."""
    raw = text.strip().lower()
    frames = raw.endswith(FRAME_SUFFIX)
    number = raw[:-1] if frames or raw.endswith(SECOND_SUFFIX) else raw
    try:
        value = Fraction(number)
    except (ValueError, ZeroDivisionError):
        raise UserError(f"{option}: {text.strip()!r} is not a time: give seconds (10 or 10s) or a frame "
                        f"number (250f)") from None
    if value < 0 or (frames and value.denominator != 1):
        raise UserError(f"{option}: {text.strip()!r} is not a time: seconds and frame numbers start at 0 "
                        "(and frame numbers are whole)")
    return Moment(value, frames)


@dataclass(frozen=True)
class Cue:
    at: Moment
    style: str


def parse_schedule(text: str) -> list[Cue]:
    """`TIME:STYLE,TIME:STYLE,…` from time 0, times increasing (checked once the frame rate is
    known, in StyleSchedule, where seconds and frame numbers are mixed)."""
    cues = []
    for part in text.split(","):
        time_text, colon, style = part.partition(":")     # a style path may hold ':' itself
        if not colon or not style.strip() or not time_text.strip():
            raise UserError(f"{SCHEDULE_OPTION}: {part.strip()!r} is not TIME:STYLE "
                            "(e.g. \"0:starry,10s:candy,250f:mosaic\")")
        cues.append(Cue(parse_moment(time_text, SCHEDULE_OPTION), style.strip()))
    if cues[0].at.value != 0:
        raise UserError(f"{SCHEDULE_OPTION}: the first style starts at 0 (e.g. \"0:{cues[0].style},…\"), "
                        f"not at {cues[0].at}")
    if len({c.at.frames for c in cues}) == 1:
        _check_increasing([c.at.value for c in cues], cues)
    return cues


def _check_increasing(starts: list, cues: list[Cue]) -> None:
    for (a, ca), (b, cb) in zip(zip(starts, cues), zip(starts[1:], cues[1:])):
        if b <= a:
            raise UserError(f"{SCHEDULE_OPTION}: times must increase: {cb.at}:{cb.style} comes after "
                            f"{ca.at}:{ca.style}")


class StyleSchedule:
    """Which styles make a frame, by its time, and how: `infer` (the engines' part, any
    thread, any order) and `finish` (temporal blend per style, delivery and mix, in frame
    order). `stylizers[i]` plays cue i; cues of one style share its stylizer."""

    def __init__(self, cues: list[Cue], stylizers: list[Stylizer], crossfade: Moment | None,
                 temporal_strength: float | None):
        self.cues, self.stylizers = cues, stylizers
        self.crossfade, self.temporal_strength = crossfade, temporal_strength
        self.starts: list[Fraction] = []
        self.fade = Fraction(0)
        self.rate = Fraction(25)
        self.first_pts = 0
        self._histories: dict[int, Temporal] = {}

    def start(self, rate: Fraction, first_pts: int | None = None) -> None:
        """The times in seconds at the video's frame rate, from the timestamp `first_pts`;
        UserError if they do not increase or a crossfade is longer than a style's turn."""
        self.rate, self.first_pts = Fraction(rate), first_pts or 0
        self.starts = [c.at.seconds(self.rate) for c in self.cues]
        _check_increasing(self.starts, self.cues)
        self.fade = self.crossfade.seconds(self.rate) if self.crossfade is not None else Fraction(0)
        shortest = min((b - a for a, b in zip(self.starts, self.starts[1:])), default=None)
        if shortest is not None and self.fade > shortest:
            raise UserError(f"{CROSSFADE_OPTION} {self.crossfade} is longer than the shortest style's turn in "
                            f"{SCHEDULE_OPTION} ({float(shortest):g} s)")

    def time_of(self, item: VideoItem) -> Fraction:
        """Seconds from the stream's start: by timestamp (variable frame rates stay right), by
        index at the frame rate where there is none."""
        if item.pts is None or item.time_base is None:
            return item.index / self.rate
        return max(Fraction(0), (item.pts - self.first_pts) * Fraction(item.time_base))

    def weights(self, t: Fraction) -> list[tuple[int, float]]:
        """(cue, weight) of the styles at time t: one, or two across a crossfade."""
        k = max(i for i, start in enumerate(self.starts) if start <= t)
        if k > 0 and self.fade > 0 and t < self.starts[k] + self.fade:
            w = float((t - self.starts[k]) / self.fade)
            return [(k - 1, 1.0 - w), (k, w)] if w > 0 else [(k - 1, 1.0)]
        return [(k, 1.0)]

    def infer(self, item: VideoItem, source=None) -> list[tuple[int, float, object]]:
        """Each style of the frame stylized at the processing size: (cue, weight, picture)."""
        if source is None:
            source = self.stylizers[0].prepare(item.image)
        return [(i, w, self.stylizers[i].infer(source)) for i, w in self.weights(self.time_of(item))]

    def finish(self, item: VideoItem, parts: list[tuple[int, float, object]], motion) -> np.ndarray:
        """The output frame at the frame's size: each style blended with its own history, then
        mixed by weight. A style no longer playing loses its history."""
        playing = {i for i, _, _ in parts}
        for i in [i for i in self._histories if i not in playing]:
            del self._histories[i]
        out = None
        for i, w, styled in parts:
            stylizer = self.stylizers[i]
            if self.temporal_strength is not None and motion is not None:
                if i not in self._histories:
                    self._histories[i] = stylizer.temporal(self.temporal_strength)
                styled = self._histories[i].blend(styled, motion)
            image = stylizer.deliver(styled, item.image)
            out = image if out is None else cv2.addWeighted(out, 1.0 - w, image, w, 0.0)
        return out

    def describe(self) -> dict:
        return {"schedule": [{"at_seconds": round(float(s), 3), "style": c.style, "model": st.engine.name}
                             for s, c, st in zip(self.starts, self.cues, self.stylizers)],
                "crossfade_seconds": round(float(self.fade), 3)}
