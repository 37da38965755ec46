"""Live progress: every method reports slices of a chunk, so the bar moves whatever the chunk size.

Slicing must not change a result: slices are cut on the global entry grid, and
the per-event seeded methods see the same global entries as in one call.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import make_branches

from nuanalysis.progress import PREPARING, MethodProgress
from nuanalysis.runner import PROGRESS_EVENTS, WorkUnit, progress_slices, run_chunk


def test_slices_follow_the_global_grid():
    unit = WorkUnit("f.root", start=40, stop=640, chunk_size=600, global_start=1040)
    slices = progress_slices(unit, 250)
    assert [(s.global_start, s.stop - s.start) for s in slices] == [
        (1040, 210),
        (1250, 250),
        (1500, 140),
    ]
    assert slices[0].start == 40 and slices[-1].stop == 640
    assert all(a.stop == b.start for a, b in itertools.pairwise(slices))


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    from nuanalysis.io import load_padded, write_ntuple

    path = tmp_path_factory.mktemp("progress") / "dilepton.root"
    write_ntuple(path, make_branches("dilepton", 600, seed=5, met_resolution=10.0))
    return load_padded(path)


def test_each_method_reports_every_slice_and_slicing_changes_no_result(events):
    from nuanalysis.methods.registry import reconstruct

    unit = WorkUnit("f.root", 0, len(events), len(events), global_start=100)
    reports = []
    chunk = run_chunk(events, unit, ["truth", "nw"], seed=3, progress=lambda *r: reports.append(r))
    sizes = [part.stop - part.start for part in progress_slices(unit)]
    assert [r for r in reports if r[1]] == [(m, n) for m in ("truth", "nw") for n in sizes]
    assert max(sizes) <= PROGRESS_EVENTS and len(sizes) == 3
    whole = reconstruct("nw", events, first_event_index=100, seed=3)
    np.testing.assert_array_equal(chunk.results["nw"].momenta, whole.momenta)
    np.testing.assert_array_equal(chunk.results["nw"].valid, whole.valid)
    assert chunk.results["nw"].valid.mean() > 0.5


def test_a_method_being_prepared_is_named_on_the_bar(events, monkeypatch):
    """A process's first call of a method (numba compiling) is announced before its slices,
    and the bar shows it instead of standing still."""
    import nuanalysis.runner as runner

    monkeypatch.setattr(runner, "_WARMED", {"truth"})
    unit = WorkUnit("f.root", 0, 300, 300, global_start=0)
    reports = []
    run_chunk(
        events.select(slice(0, 300)), unit, ["truth", "nw"], progress=lambda *r: reports.append(r)
    )
    assert reports == [("truth", 250), ("truth", 50), ("nw", 0), ("nw", 250), ("nw", 50)]
    progress = MethodProgress(["truth", "nw"], total=300, enabled=True)
    progress.advance("nw", 0)
    assert progress.bar.postfix == f"nw: {PREPARING}" and progress.done == 0
    progress.advance("nw", 250)
    assert progress.bar.postfix == "nw"
    progress.close()


def test_the_bar_counts_events_all_methods_went_through():
    progress = MethodProgress(["a", "b", "c"], total=300, enabled=False)
    progress.advance("a", 250)
    progress.advance("a", 50)
    assert progress.done == 100  # a third of each event's work is done
    progress.advance("b", 300)
    progress.advance("c", 150)
    assert progress.done == 250
    progress.complete()
    assert progress.done == 300
