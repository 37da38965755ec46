"""Ctrl-C and SIGTERM that stop a run in one line, also while a numba kernel runs.

Python runs a signal's handler between two bytecodes of the main thread. A numba
kernel calls back into Python now and then (it unpickles some of its constants
through ``numba.core.serialize`` at run time), and a ``KeyboardInterrupt``
raised inside such a call is an exception the compiled caller does not expect:
numba reports ``SystemError: CPUDispatcher(...) returned a result with an
exception set``. Raised inside numba's compiler (or an llvmlite callback) it can
come out as an unrelated ``RuntimeError``. :func:`signals_outside_kernels`
therefore holds SIGINT and SIGTERM back while numba's or llvmlite's code is on
the stack and hands them to the handler they had before, unchanged, at the first
bytecode outside it: a kernel call of the runner's progress slice (about a
second) or a compilation finishes first. A SIGALRM timer polls every
:data:`POLL_SECONDS` until then.

References: Python's :mod:`signal` ("Execution of Python signal handlers").
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

POLL_SECONDS = 0.05
"""How often a held-back signal checks whether the kernel has returned."""

HELD_BACK = (signal.SIGINT, signal.SIGTERM)


def inside_numba(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a frame below it runs numba's or llvmlite's own Python code."""
    roots = tuple(
        os.path.dirname(module.__file__) + os.sep
        for module in (sys.modules.get("numba"), sys.modules.get("llvmlite"))
        if module is not None and module.__file__
    )
    while roots and frame is not None:
        if frame.f_code.co_filename.startswith(roots):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def signals_outside_kernels() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM reach their Python handlers (``KeyboardInterrupt``,
    :class:`~nuanalysis.outputs.Terminated`) only outside numba's code (see the module).

    Signals whose handler is not a Python function (ignored, or the system's default)
    are left alone; outside the main thread, or without ``setitimer``, the block changes
    nothing. A signal still held back when the block ends is delivered then."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return
    previous = {s: signal.getsignal(s) for s in HELD_BACK if callable(signal.getsignal(s))}
    held: list[int] = []

    def deliver(frame: FrameType | None) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signum = held[0]
        held.clear()
        previous[signum](signum, frame)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if inside_numba(frame):
            held.append(signum)
            signal.setitimer(signal.ITIMER_REAL, POLL_SECONDS)
        else:
            previous[signum](signum, frame)

    def on_poll(signum: int, frame: FrameType | None) -> None:
        if not held:
            return
        if inside_numba(frame):
            signal.setitimer(signal.ITIMER_REAL, POLL_SECONDS)
        else:
            deliver(frame)

    before_poll = signal.signal(signal.SIGALRM, on_poll)
    for signum in previous:
        signal.signal(signum, on_signal)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before_poll)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            deliver(sys._getframe())
