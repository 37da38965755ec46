"""Scaling out: a two-worker dask LocalCluster gives the same outputs as one process.

The stochastic ``flow-sample`` and ``nw`` draw their random numbers per global
event index from the base seed, so where a chunk runs does not matter, nor does the
chunk size (tests/test_flow_inference.py for the flows); a different base seed does.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import uproot
from click.testing import CliRunner
from conftest import make_branches

from nuanalysis.cli.reconstruct import command as reconstruct_command
from nuanalysis.io import write_ntuple
from nuanalysis.runner import concatenate_results, iter_chunks

METHODS = ["truth", "flow-sample", "ff", "nw"]


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask")
    paths = []
    for i, n in enumerate((170, 130)):
        path = folder / f"part{i}.root"
        write_ntuple(path, make_branches("dilepton", n, seed=20 + i, met_resolution=10.0))
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def scheduler():
    """The address of a two-worker LocalCluster, as ``--jobs 2`` would start it."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def _run(paths, chunk_size=60, **kwargs):
    chunks = list(iter_chunks(paths, METHODS, chunk_size=chunk_size, **kwargs))
    results = {m: concatenate_results([c.results[m] for c in chunks]) for m in METHODS}
    return chunks, results


def test_dask_equals_single_process(two_files, monkeypatch):
    """``jobs=2`` starts its own LocalCluster(processes=True, n_workers=2, threads_per_worker=1)."""
    from nuanalysis.progress import MethodProgress
    from nuanalysis.runner import PROGRESS_EVENTS

    single_chunks, single = _run(two_files, seed=3)
    reports = []
    monkeypatch.setattr(MethodProgress, "advance", lambda _, *report: reports.append(report))
    dask_chunks, distributed = _run(two_files, seed=3, jobs=2, progress=True)
    # the workers' progress reaches this process's bar slice by slice, for every method
    assert {m for m, _ in reports} == set(METHODS)
    # (0 events: a method being prepared on a worker, the bar says so)
    assert all(0 <= n <= min(60, PROGRESS_EVENTS) for _, n in reports)
    for method in METHODS:
        assert sum(n for m, n in reports if m == method) == 300
    # the dask run really ran elsewhere, on both workers
    assert {c.pid for c in single_chunks} == {os.getpid()}
    assert os.getpid() not in {c.pid for c in dask_chunks}
    assert len({c.pid for c in dask_chunks}) == 2
    # same units, same order, bit-identical results
    assert [c.unit for c in single_chunks] == [c.unit for c in dask_chunks]
    assert len(single["truth"].valid) == 300
    for method in METHODS:
        np.testing.assert_array_equal(single[method].momenta, distributed[method].momenta)
        np.testing.assert_array_equal(single[method].valid, distributed[method].valid)
        if single[method].weight is not None:
            np.testing.assert_array_equal(single[method].weight, distributed[method].weight)
    # the seed matters (so equality above is not trivial): another base seed, other samples
    _, reseeded = _run(two_files, seed=4)
    assert not np.array_equal(reseeded["flow-sample"].momenta, single["flow-sample"].momenta)
    np.testing.assert_array_equal(reseeded["ff"].momenta, single["ff"].momenta)
    # NW seeds each event by its global index: other chunk boundaries, same smearings
    assert single["nw"].valid.mean() > 0.5
    _, rechunked = _run(two_files, chunk_size=45, seed=3)
    np.testing.assert_array_equal(rechunked["nw"].momenta, single["nw"].momenta)


def test_reconstruct_on_dask_writes_the_same_file(two_files, tmp_path, scheduler):
    outputs = {}
    for where in (["--jobs", "1"], ["--scheduler", scheduler]):
        out = tmp_path / f"reco_{where[0][2:]}.root"
        args = ["--input", two_files[0], "--input", two_files[1], "--methods", ",".join(METHODS)]
        result = CliRunner().invoke(
            reconstruct_command,
            [*args, "--out", str(out), *where, "--chunk-size", "60", "--seed", "9"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        outputs[where[0]] = uproot.open(out)["events"].arrays(library="np")
    assert len(outputs["--jobs"]["flow-sample_valid"]) == 300
    for branch, values in outputs["--jobs"].items():
        other = outputs["--scheduler"][branch]
        if values.dtype == object:
            np.testing.assert_array_equal(np.stack(values), np.stack(other), err_msg=branch)
        else:
            np.testing.assert_array_equal(values, other, err_msg=branch)
