"""Ctrl-C and SIGTERM while a kernel runs: exit 130 / 143 and one line, never a SystemError.

A signal that arrives while a numba kernel calls back into Python used to surface as
``SystemError: CPUDispatcher(...) returned a result with an exception set``
(:mod:`nuanalysis.interrupts`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

import baselines.neutrino_weighting as nw_kernels
from nuanalysis.interrupts import signals_outside_kernels
from nuanalysis.io import load_padded
from nuanalysis.io.reading import demo_sample_path
from nuanalysis.methods.registry import reconstruct
from nuanalysis.outputs import Terminated, termination_as_exception

INTERRUPTED = "nuanalysis: error: interrupted: unfinished outputs were not written"
TERMINATED = "nuanalysis: error: terminated (SIGTERM): unfinished outputs were not written"


@pytest.fixture(scope="module")
def dilepton_events():
    events = load_padded(demo_sample_path("dilepton"))
    reconstruct("nw", events.select(slice(0, 8)))  # compiled (or loaded) outside the timing
    return events


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, also where the tests were started with SIGINT ignored
    (a background job of a shell)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _default_sigint() -> None:
    """In the child before it starts: SIGINT as a terminal gives it (Python then raises)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("signum", "expected"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_a_signal_inside_a_kernel_stops_it_cleanly(
    dilepton_events, monkeypatch, ctrl_c_raises, signum, expected
):
    """The signal arrives 0.2 s into one NW kernel call over 200 events (about a second):
    the run stops with the signal's own exception once the kernel returns."""
    monkeypatch.setattr(nw_kernels, "KERNEL_EVENTS", 10**6)  # one long kernel call
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signum))
    with pytest.raises(BaseException) as caught:  # which exception is the point
        with termination_as_exception(), signals_outside_kernels():
            timer.start()
            reconstruct("nw", dilepton_events.select(slice(0, 200)))
            time.sleep(30)  # the kernel ended before the signal: it must still arrive
    timer.cancel()
    assert type(caught.value) is expected, repr(caught.value)


def _progress(stderr: bytes) -> int:
    """Events the progress bar has shown as done."""
    counts = re.findall(rb" (\d+)/\d+ \[", stderr)
    return int(counts[-1]) if counts else 0


def _interrupt_mid_run(arguments: list[str], signum: int) -> tuple[int, str]:
    """Start ``nuanalysis compare``, send ``signum`` once its bar shows events done (every
    kernel compiled, the methods part-way) and return the exit status and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nuanalysis", "compare", "--no-report", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=_default_sigint,
    )
    stderr = bytearray()

    def read() -> None:
        for block in iter(process.stderr.read1, b""):
            stderr.extend(block)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 300
    while _progress(bytes(stderr)) == 0 and process.poll() is None:
        assert time.monotonic() < deadline, "no progress within 300 s"
        time.sleep(0.05)
    assert process.poll() is None, f"finished before the signal: {bytes(stderr).decode()}"
    process.send_signal(signum)
    process.wait(timeout=120)
    reader.join()
    return process.returncode, bytes(stderr).decode()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("channel", "method"),
    [
        ("dilepton", "nw"),
        ("dilepton", "ellipse"),
        ("dilepton", "flow"),
        ("semileptonic", "quadratic"),
        ("semileptonic", "ellipse"),
    ],
)
def test_ctrl_c_mid_method_gives_one_line_and_130(tmp_path, channel, method):
    demo = str(demo_sample_path(channel))
    repeated = [argument for _ in range(20) for argument in ("--input", demo)]  # 60k events
    code, stderr = _interrupt_mid_run(
        [*repeated, "--methods", method, "--out", str(tmp_path / "report")], signal.SIGINT
    )
    assert code == 130, stderr
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.startswith("nuanalysis:")] == [INTERRUPTED]
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_sigterm_mid_nw_gives_one_line_and_143(tmp_path):
    arguments = ["--methods", "nw", "--out", str(tmp_path / "report")]
    code, stderr = _interrupt_mid_run(arguments, signal.SIGTERM)
    assert code == 143, stderr
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.startswith("nuanalysis:")] == [TERMINATED]
