"""Progress bars for long work: reconstruction per method, unfolding toys, training.

:func:`progress_bar` is tqdm's notebook widget inside a Jupyter kernel that has
ipywidgets and the text bar everywhere else: ``tqdm.auto`` alone warns
("IProgress not found") in a kernel without ipywidgets. :class:`MethodProgress`
turns "method M finished n more events" reports into one bar over events that
moves as each method advances, so a bar over many methods and large chunks
still moves every slice of events (:data:`nuanalysis.runner.PROGRESS_EVENTS`).
While a method is prepared (a process's first call compiles its numba kernels,
tens of seconds on the first run, or loads them from the cache) the bar says so
instead of standing still without a word.
"""

from __future__ import annotations

import importlib.util
import threading

from tqdm import tqdm as text_tqdm

PREPARING = "preparing (the first run compiles its kernels)…"
"""Shown after a method's name while it is prepared."""


def progress_bar(**options) -> text_tqdm:
    """A tqdm bar (``options`` as tqdm's): the widget where ipywidgets is installed and the
    code runs in a Jupyter kernel, else the text bar."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm

        return tqdm(**options)
    return text_tqdm(**options)


class MethodProgress:
    """One bar over events for several methods: each reports the events it has done, and the
    bar shows the events every method has been through on average (a method's share is
    1/len(methods) of each event), with the method last heard from after the counts.

    :meth:`advance` is thread-safe: dask delivers the workers' reports on the client's
    event-loop thread.
    """

    def __init__(self, methods, total: int | None, enabled: bool, desc: str = "reconstructing"):
        self.n_methods = max(len(methods), 1)
        self.bar = progress_bar(total=total, unit="ev", desc=desc, disable=not enabled)
        self._method_events = 0
        self.done = 0
        """Events every method has been through (on average)."""
        self._lock = threading.Lock()

    def add_total(self, events: int) -> None:
        """More events to come (a file opened)."""
        self.bar.total = (self.bar.total or 0) + events
        self.bar.refresh()

    def advance(self, method: str, events: int) -> None:
        """``method`` has done ``events`` more events; 0: it is being prepared (the bar then
        shows :data:`PREPARING`)."""
        with self._lock:
            if events == 0:
                self.bar.set_postfix_str(f"{method}: {PREPARING}")
                return
            self._method_events += events
            done = self._method_events // self.n_methods
            self.bar.set_postfix_str(method, refresh=False)
            self.bar.update(done - self.done)
            self.done = done

    def complete(self) -> None:
        """Every event is done (reports still on their way from dask workers included)."""
        with self._lock:
            total = self.bar.total or 0
            self._method_events = total * self.n_methods
            self.bar.update(total - self.done)
            self.done = total

    def close(self) -> None:
        self.bar.close()
