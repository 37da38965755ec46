"""Trust on the output side: no code run from a file, no user file lost, one-line errors.

Each test reproduces an attack or accident a user met (a malicious checkpoint,
a folder of user files given as --out, an output named like an input, a
symbolic link, a killed parallel run, a full disk) and checks that nothing
runs, nothing is lost and the refusal is one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nuanalysis.cli import main
from nuanalysis.cli.train import checkpoint_path
from nuanalysis.errors import ModelError, OutputError
from nuanalysis.flows.training import read_checkpoint
from nuanalysis.io import demo_sample_path
from nuanalysis.outputs import MARKER, atomic_file, atomic_folder, check_output
from nuanalysis.report import Section, Table, write_report

PRECIOUS = b"a user's file that must survive\n"
TRAIN = ("train", "--preset", "tiny", "--threads", "1", "--max-events", "100")


def run_main(capsys, *args) -> tuple[int, str]:
    """Exit status and stderr of ``nuanalysis ARGS`` run in this process."""
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
        raise SystemExit(0)
    return stop.value.code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    """The single ``nuanalysis: error:`` line of ``err``; asserted: no other error line and no
    traceback (progress lines before it are fine)."""
    lines = [line for line in err.splitlines() if line.startswith("nuanalysis: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def strays(folder: Path) -> list[str]:
    """Temporaries an output left behind (``.NAME.partial-PID``, ``.NAME.old-PID``)."""
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


class RunsCode:
    """A pickle that calls ``os.system(command)`` when it is loaded (``__reduce__``)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


# --- S1: no code from a checkpoint or model file -------------------------------------------


def test_malicious_checkpoint_runs_nothing_and_is_refused_in_one_line(tmp_path, capsys):
    pwned = tmp_path / "PWNED"
    out = tmp_path / "model.pt"
    payload = {"config": RunsCode(f"touch {pwned}"), "model": {}, "epoch": 0}
    torch.save(payload, checkpoint_path(out))
    code, err = run_main(
        capsys, *TRAIN, "--input", demo_sample_path("semileptonic"), "--out", out, "--resume"
    )
    assert not pwned.exists(), "the checkpoint's pickle ran a command"
    line = one_error_line(err)
    assert code == 1 and "not a safe training checkpoint" in line and "posix.system" in line
    with pytest.raises(ModelError, match="not a safe"):
        read_checkpoint(checkpoint_path(out))
    assert not pwned.exists() and not out.exists()


def test_resume_with_other_max_events_is_refused(tmp_path, capsys):
    out, sample = tmp_path / "model.pt", demo_sample_path("semileptonic")
    code, err = run_main(capsys, *TRAIN, "--epochs", "1", "--input", sample, "--out", out)
    assert code == 0, err
    code, err = run_main(
        capsys, *TRAIN, "--epochs", "2", "--input", sample, "--out", out, "--resume",
        "--max-events", "80",
    )  # fmt: skip
    line = one_error_line(err)
    assert code == 1 and "trained on 100 events, this call reads 80" in line


def test_pickled_model_is_refused_with_how_to_convert_it(tmp_path, capsys):
    model = tmp_path / "pickled.pt"
    torch.save({"format_version": 1, "score": np.float64(0.5)}, model)
    code, err = run_main(capsys, "export", "--model", model, "--out", tmp_path / "m.onnx")
    line = one_error_line(err)
    assert code == 1 and "not a safe model file" in line and "numpy" in line
    assert "if you trust its origin, convert it" in line and "weights_only=False" in line


# --- report pages: file names are text ------------------------------------------------------


def test_report_markdown_escapes_file_names(tmp_path):
    name = "./<img src=x onerror=alert(1)>.root"
    table = Table(["item", "value"], [["inputs", name], ["a|b", "c"]], numeric=False)
    md_path, html_path = write_report(
        tmp_path / "r", f"Study of {name}", [Section(name, f"Read {name}.", [table])]
    )
    for page in (md_path.read_text(), html_path.read_text()):
        assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "| a\\|b | c |" in md_path.read_text()  # a cell's | does not split the row


def test_file_name_with_mathtext_is_drawn_as_text(tmp_path):
    from nuanalysis import plotting

    sample = plotting.sample_label("dilepton", ["data/a$\\bad{$.root"])
    png = plotting.plot_bars({"truth": 1.0}, "valid fraction", tmp_path, "bars", sample=sample)
    assert png.is_file()


# --- D1: only a folder nuanalysis wrote is replaced -----------------------------------------


def test_folder_of_user_files_is_refused_and_kept(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    files = {"thesis.pdf": b"x\n", "notes.md": b"x\n", "results.json": b"{}\n", "page.html": b"x"}
    for name, content in files.items():
        (docs / name).write_bytes(content)
    args = ("compare", "--methods", "truth", "--max-events", "50", "--out", docs)
    code, err = run_main(capsys, *args)
    line = one_error_line(err)
    assert code == 2 and MARKER in line and "thesis.pdf" in line
    assert {p.name: p.read_bytes() for p in docs.iterdir()} == files


# --- D2: every written file against every input ---------------------------------------------


def test_checkpoint_named_like_an_input_is_refused(tmp_path, capsys):
    data = tmp_path / "data.ckpt"
    data.write_bytes(demo_sample_path("semileptonic").read_bytes())
    before = data.read_bytes()
    code, err = run_main(capsys, *TRAIN, "--input", data, "--out", tmp_path / "data")
    line = one_error_line(err)
    assert code == 2 and "checkpoint" in line and "is also an input" in line
    assert data.read_bytes() == before and not (tmp_path / "data").exists()


def test_export_metadata_named_like_the_model_is_refused(tmp_path, capsys):
    model = tmp_path / "flow.json"
    model.write_bytes(demo_sample_path("dilepton").read_bytes())  # never read: refused first
    code, err = run_main(capsys, "export", "--model", model, "--out", tmp_path / "flow.onnx")
    assert code == 2 and "is also an input" in one_error_line(err)
    assert model.read_bytes() == demo_sample_path("dilepton").read_bytes()


def test_json_inside_the_report_folder_is_refused(tmp_path, capsys):
    report = tmp_path / "report"
    args = ("compare", "--methods", "truth", "--max-events", "50", "--out", report)
    code, err = run_main(capsys, *args, "--json", report / "index.html")
    line = one_error_line(err)
    assert code == 2 and "--json" in line and "is inside --out" in line
    assert not report.exists()


# --- D3: symbolic links are written through -------------------------------------------------


def test_outputs_are_written_through_symbolic_links(tmp_path):
    real = tmp_path / "realrep"
    with atomic_folder(real) as folder:
        (folder / "old.png").write_bytes(b"old")
    link = tmp_path / "linkrep"
    link.symlink_to(real)
    check_output(link, "--out", folder=True)
    with atomic_folder(link) as folder:
        (folder / "new.png").write_bytes(b"new")
    assert link.is_symlink() and link.resolve() == real
    assert sorted(p.name for p in real.iterdir()) == [MARKER, "new.png"]
    file_link = tmp_path / "reco.root"
    file_link.symlink_to(tmp_path / "real.root")
    with atomic_file(file_link) as partial:
        partial.write_bytes(b"tree")
    assert file_link.is_symlink() and (tmp_path / "real.root").read_bytes() == b"tree"
    assert strays(tmp_path) == []
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "thesis.pdf").write_bytes(PRECIOUS)
    link.unlink()
    link.symlink_to(tmp_path / "users")
    with pytest.raises(OutputError, match=r"thesis\.pdf"):
        check_output(link, "--out", folder=True)


# --- one-line refusals before any work ------------------------------------------------------


@pytest.mark.parametrize("out", [".", "", ".."])
def test_current_folder_or_empty_out_is_refused_up_front(out, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ("compare", "--methods", "truth", "--max-events", "50", "--out", out)
    code, err = run_main(capsys, *args)
    line = one_error_line(err)
    assert code == 2 and line.startswith("nuanalysis: error: --out")
    assert sorted(p.name for p in work.iterdir()) == [] and strays(tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_location_is_refused_before_work(capsys):
    code, err = run_main(
        capsys, "reconstruct", "--methods", "truth", "--max-events", "5", "--input",
        demo_sample_path("dilepton"), "--out", "/proc/nope.root",
    )  # fmt: skip
    assert code == 2 and "cannot write into /proc" in one_error_line(err)


def test_misspelt_command_gets_a_suggestion(capsys):
    code, err = run_main(capsys, "comapre")
    assert code == 2 and "did you mean 'compare'" in err and "Traceback" not in err


# --- full disk ------------------------------------------------------------------------------


def test_full_disk_during_reconstruct_is_one_line(tmp_path, capsys, monkeypatch):
    import nuanalysis.cli.reconstruct as reconstruct_command

    def disk_full(partial, chunks):
        Path(partial).write_bytes(b"half a tree")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(reconstruct_command, "write_reconstruction", disk_full)
    out = tmp_path / "reco.root"
    out.write_bytes(PRECIOUS)
    code, err = run_main(
        capsys, "reconstruct", "--input", demo_sample_path("dilepton"), "--methods", "truth",
        "--max-events", "5", "--out", out,
    )  # fmt: skip
    assert code == 1 and "no space left on device" in one_error_line(err)
    assert out.read_bytes() == PRECIOUS and strays(tmp_path) == []


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 64 kB tmpfs filled to the last block (skipped where mounting is not permitted)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        with contextlib.suppress(OSError), open(mount / "filler", "wb") as filler:
            for _ in range(64):
                filler.write(b"\0" * 4096)
                filler.flush()
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)  # torch may hold a file


def test_full_disk_during_reconstruct_on_a_real_device(full_tmpfs, capsys):
    code, err = run_main(
        capsys, "reconstruct", "--input", demo_sample_path("dilepton"), "--methods", "truth",
        "--max-events", "200", "--out", full_tmpfs / "reco.root",
    )  # fmt: skip
    assert code == 1 and "no space left on device" in one_error_line(err)
    assert sorted(p.name for p in full_tmpfs.iterdir()) == ["filler"]


def test_full_disk_during_training_is_one_line(full_tmpfs, capsys):
    code, err = run_main(
        capsys, *TRAIN, "--epochs", "1", "--input", demo_sample_path("semileptonic"),
        "--out", full_tmpfs / "model.pt",
    )  # fmt: skip
    line = one_error_line(err)
    assert code == 1 and "no space left on device" in line and "model.pt.ckpt" in line
    assert sorted(p.name for p in full_tmpfs.iterdir()) == ["filler"]


# --- D4: parallel workers die with their parent ---------------------------------------------

ORPHAN_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import numpy as np
    from nuanalysis.generation import runner

    def job_that_never_ends(channel, quota, seed_sequence, *rest):
        (Path(sys.argv[1]) / f"worker-{os.getpid()}").write_text("")
        time.sleep(300)

    class NoBar:
        def update(self, count):
            pass

    runner.run_job = job_that_never_ends
    seeds = np.random.SeedSequence(1).spawn(2)
    runner._run_parallel("dilepton", [1, 1], seeds, 172.5, None, NoBar(), 1)
    """
)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_generation_workers_die_with_a_killed_parent(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(tmp_path)])
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
        assert parent.poll() is None, "the parallel run ended early"
        time.sleep(0.1)
    workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    assert len(workers) == 2 and all(alive(pid) for pid in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in workers if alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "generation workers outlived their killed parent"


# --- ONNX: the extra named, external data refused -------------------------------------------


def test_missing_onnx_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    code, err = run_main(capsys, "export", "--channel", "dilepton", "--out", tmp_path / "flow.onnx")
    line = one_error_line(err)
    assert code == 1 and "onnx package" in line and 'pip install "nuanalysis[onnx]"' in line
    assert not (tmp_path / "flow.onnx").exists()


def test_onnx_graph_with_external_data_is_refused_in_one_line(tmp_path, capsys):
    import json

    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from nuanalysis.flows.onnx_export import METADATA_KEY, ONNX_FORMAT_VERSION

    weight = numpy_helper.from_array(np.ones((64, 3), np.float32), name="weight")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "weight"], ["y"])],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 3])],
        initializer=[weight],
    )
    proto = helper.make_model(graph)
    config = {"channel": "dilepton", "model_type": "flow"}
    metadata = {"format_version": ONNX_FORMAT_VERSION, "config": config}
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    path = tmp_path / "flow.onnx"
    onnx.save_model(
        proto, path, save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    assert (tmp_path / "weights.bin").is_file()
    code, err = run_main(
        capsys, "reconstruct", "--input", demo_sample_path("dilepton"), "--methods", "flow",
        "--model", f"flow={path}", "--max-events", "5", "--out", tmp_path / "reco.root",
    )  # fmt: skip
    line = one_error_line(err)
    assert code == 1 and "external data" in line and "nuanalysis export" in line
