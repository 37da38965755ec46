"""Bugs the adversarial fuzz (``benchmarks/fuzz.py``, issue 24) found, each reproduced.

The user-files class gives ``--out`` an empty path and names whose derived
outputs (the export's ``.json`` description) are a user's file; each must be a
one-line refusal that leaves every user file as it was.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import signal

import pytest
from test_trust_outputs import TRAIN, one_error_line, run_main

from nuanalysis.errors import OptionError
from nuanalysis.flows.model_io import shipped_model_path
from nuanalysis.generation.runner import start_worker
from nuanalysis.interrupts import signals_outside_kernels
from nuanalysis.io import demo_sample_path
from nuanalysis.methods.option_types import check_options
from nuanalysis.methods.registry import get_method
from nuanalysis.outputs import termination_as_exception


@pytest.fixture
def model(tmp_path):
    """A copy of the shipped dilepton flow model (export's input)."""
    return shutil.copy(shipped_model_path("dilepton"), tmp_path / "model.pt")


def test_train_refuses_an_empty_out_in_one_line(capsys):
    """``train --out ''`` raised ``ValueError: PosixPath('.') has an empty name`` while
    naming the checkpoint beside ``--out``."""
    code, err = run_main(capsys, *TRAIN, "--input", demo_sample_path("dilepton"), "--out", "")
    assert code == 2
    assert "--out" in one_error_line(err)


def test_export_refuses_an_empty_out_in_one_line(capsys, model):
    """``export --out ''`` raised the same ValueError naming the ``.json`` description."""
    code, err = run_main(capsys, "export", "--model", model, "--out", "")
    assert code == 2
    assert "--out" in one_error_line(err)


def test_export_keeps_a_users_json_beside_out(capsys, tmp_path, model):
    """``export --out thesis/results.onnx`` replaced the user's ``thesis/results.json`` with the
    input description; now it is refused and the file and folder stay as they were."""
    docs = tmp_path / "thesis"
    docs.mkdir()
    (docs / "results.json").write_text('{"chi2": 1.02}')
    code, err = run_main(capsys, "export", "--model", model, "--out", docs / "results.onnx")
    assert code == 2
    assert "results.json" in one_error_line(err)
    assert (docs / "results.json").read_text() == '{"chi2": 1.02}'
    assert sorted(p.name for p in docs.iterdir()) == ["results.json"]


@pytest.mark.slow
def test_export_replaces_its_own_earlier_description(capsys, tmp_path, model):
    """A second export to the same ``--out`` replaces the graph and the description."""
    out = tmp_path / "flow.onnx"
    assert run_main(capsys, "export", "--model", model, "--out", out)[0] == 0
    (tmp_path / "flow.json").write_text(
        json.dumps({**json.loads((tmp_path / "flow.json").read_text()), "source": "stale"})
    )
    assert run_main(capsys, "export", "--model", model, "--out", out)[0] == 0
    assert json.loads((tmp_path / "flow.json").read_text())["source"] != "stale"


def test_a_failed_reconstruct_write_shows_its_error_after_the_progress_bar(
    tmp_path, capsys, monkeypatch
):
    """A disk filling up after the first chunk printed the error glued to the open progress
    bar (``…ellipse]nuanalysis: error: …``) and the bar's last state after it: the bar
    was closed only when the runner's generator was collected."""
    import nuanalysis.cli.reconstruct as reconstruct_command

    def disk_full_after_one_chunk(partial, chunks):
        next(iter(chunks))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(reconstruct_command, "write_reconstruction", disk_full_after_one_chunk)
    code, err = run_main(
        capsys, "reconstruct", "--input", demo_sample_path("dilepton"), "--methods", "truth",
        "--chunk-size", "100", "--max-events", "300", "--out", tmp_path / "reco.root",
    )  # fmt: skip
    line = one_error_line(err)
    assert code == 1 and "no space left on device" in line
    before, _, after = err.partition(line)
    assert before.endswith("\n") and after.strip() == ""


def test_nw_refuses_an_eta_step_longer_than_its_grid():
    """``--option nw.eta_step=1e308`` ran with 0 % valid: the grid was the one η −5."""
    with pytest.raises(OptionError, match="eta_step must be at most"):
        check_options(get_method("nw"), {"eta_step": 1e308})
    check_options(get_method("nw"), {"eta_step": 10.0})  # −5 and 5: a grid of two


@pytest.mark.parametrize("damage", ["text", "truncated"])
def test_an_unreadable_file_is_one_error_line(tmp_path, capsys, damage):
    """uproot's message spans three lines; each became a ``nuanalysis: error:`` line."""
    path = tmp_path / "events.root"
    whole = demo_sample_path("dilepton").read_bytes()
    path.write_bytes(b"not a ROOT file\n" if damage == "text" else whole[: len(whole) // 2])
    code, err = run_main(capsys, "compare", "--input", path, "--methods", "truth", "--no-report")
    assert code == 1
    assert "events.root" in one_error_line(err)


def _worker_handlers(_) -> tuple:
    return tuple(signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM))


def test_generate_workers_do_not_inherit_the_commands_signal_handlers():
    """SIGINT or SIGTERM to ``generate --jobs 2`` just after its workers started left the
    parent waiting for them for ever (3 of 12 tries): the forked workers carried the
    command's Python handlers. Its pool initializer restores the defaults (SIGINT ignored:
    the parent stops the pool)."""
    context = multiprocessing.get_context("fork")
    with termination_as_exception(), signals_outside_kernels():
        assert callable(signal.getsignal(signal.SIGTERM))
        with context.Pool(1, initializer=start_worker, initargs=(os.getpid(),)) as pool:
            handlers = pool.map(_worker_handlers, [0])[0]
    assert handlers == (signal.SIG_DFL, signal.SIG_IGN, signal.SIG_DFL)
