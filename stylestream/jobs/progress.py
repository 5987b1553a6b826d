"""How a job advances and stops: a progress bar, and SIGINT/SIGTERM turned into a clean stop."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT/SIGTERM ask the job to finish cleanly instead of killing it mid-write.

    Wrap everything from opening the output to closing it. Once a signal has come the
    process is finishing, so the handler stays after the block and absorbs later ones until
    it exits: restored, Python's default would turn a second Ctrl-C during the final flush,
    or the summary printed after it, into a KeyboardInterrupt that deletes or abandons the
    file (SIGTERM's default would kill the process outright)."""
    caught: list[int] = []

    def handler(signum, _frame):
        caught.append(signum)
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        if not caught:
            for s, h in previous.items():
                signal.signal(s, h)


def signal_name(caught: list[int]) -> str | None:
    """The first signal that stopped a job (SIGINT, SIGTERM), for its summary."""
    return signal.Signals(caught[0]).name if caught else None


def progress_bar(total: int | None, enabled: bool, unit: str = "frame"):
    """A tqdm bar on stderr, off when not `enabled` or STYLESTREAM_NO_PROGRESS=1."""
    from tqdm import tqdm

    return tqdm(total=total or None, unit=unit, dynamic_ncols=True, mininterval=0.5,
                disable=not enabled or os.environ.get("STYLESTREAM_NO_PROGRESS") == "1", leave=False)
