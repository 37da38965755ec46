"""Outputs never destroy an input and never look complete when they are not (nuanalysis.outputs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nuanalysis.cli import main
from nuanalysis.errors import OutputError
from nuanalysis.io import demo_sample_path
from nuanalysis.outputs import MARKER, atomic_file, atomic_folder, check_output, write_json

PRECIOUS = b"an earlier result that must survive\n"


def run_main(capsys, *args: str) -> tuple[int, str]:
    """Exit status and stderr of ``nuanalysis ARGS`` run in this process."""
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
        raise SystemExit(0)
    return stop.value.code, capsys.readouterr().err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "victim.root"
    path.write_bytes(demo_sample_path("dilepton").read_bytes())
    return path


def test_reconstruct_refuses_to_write_over_its_input(victim, capsys):
    before = victim.read_bytes()
    code, err = run_main(
        capsys, "reconstruct", "--input", victim, "--methods", "truth", "--out", victim
    )
    assert code == 2
    assert err.startswith("nuanalysis: error: --out") and "is also an input" in err
    assert victim.read_bytes() == before
    link = victim.with_name("link.root")
    link.symlink_to(victim)
    code, err = run_main(
        capsys, "reconstruct", "--input", link, "--methods", "truth", "--out", victim
    )
    assert code == 2 and "is also an input" in err
    assert victim.read_bytes() == before


def test_failed_reconstruct_keeps_the_earlier_output(tmp_path, capsys):
    precious = tmp_path / "precious.root"
    precious.write_bytes(PRECIOUS)
    code, err = run_main(
        capsys,
        "reconstruct",
        "--input",
        tmp_path / "does_not_exist.root",
        "--methods",
        "truth",
        "--out",
        precious,
    )
    assert code == 1 and "does_not_exist.root" in err and "Traceback" not in err
    assert precious.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


def test_error_part_way_leaves_no_partial_tree(victim, tmp_path, capsys):
    """The second input lacks a branch: the first one's entries were written, then it fails."""
    import uproot

    from nuanalysis.io import write_ntuple

    with uproot.open(victim) as file:
        tree = file["events"]
        names = [n for n in tree.keys() if n != "met" and not tree[n].name.startswith("n")]
        branches = {name: tree[name].array() for name in names}
    broken = tmp_path / "broken.root"
    write_ntuple(broken, branches)
    out = tmp_path / "reco.root"
    out.write_bytes(PRECIOUS)
    code, err = run_main(
        capsys,
        "reconstruct",
        "--input",
        victim,
        "--input",
        broken,
        "--methods",
        "truth",
        "--chunk-size",
        "1000",
        "--out",
        out,
    )
    assert code == 1 and "met" in err, err
    assert out.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


def test_json_location_checked_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "results.root"
    blocker.write_bytes(PRECIOUS)
    report = tmp_path / "report"
    code, err = run_main(
        capsys,
        "compare",
        "--methods",
        "truth",
        "--max-events",
        "50",
        "--out",
        report,
        "--json",
        blocker / "summary.json",
    )
    assert code == 2 and "is a file, not a folder" in err
    assert not report.exists()  # the report is written before the JSON: nothing ran


def _refused_for_nobody(path: Path) -> bool:
    """Whether :func:`check_output` refuses ``path`` in a forked child that runs as the
    unprivileged user ``nobody`` (root may write anywhere)."""
    import pwd

    nobody = pwd.getpwnam("nobody").pw_uid
    child = os.fork()
    if child == 0:  # pragma: no cover (the child leaves through os._exit)
        try:
            os.setuid(nobody)
            check_output(path, "--json")
        except OutputError as error:
            os._exit(3 if "permission denied" in str(error) else 4)
        except BaseException:
            os._exit(5)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) in (0, 3), f"child status {os.WEXITSTATUS(status)}"
    return os.WEXITSTATUS(status) == 3


def test_read_only_folder_refused(tmp_path):
    """Also where the tests run as root (CI): there the check runs as ``nobody``."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(OutputError, match="permission denied"):
            check_output(locked / "x.json", "--json")
        return
    import shutil
    import tempfile

    shared = Path(tempfile.mkdtemp())  # under the system's temporary folder: nobody may enter
    try:
        shared.chmod(0o777)
        (shared / "locked").mkdir(mode=0o555)
        assert _refused_for_nobody(shared / "locked" / "x.json")
        assert not _refused_for_nobody(shared / "x.json")  # a folder nobody may write: accepted
    finally:
        shutil.rmtree(shared)


def test_missing_folders_are_created_with_the_output(tmp_path):
    path = write_json(tmp_path / "new" / "deeper" / "x.json", {"width68": float("nan")})
    assert path.read_text().replace(" ", "").replace("\n", "") == '{"width68":null}'


def test_atomic_file_keeps_the_target_on_error(tmp_path):
    target = tmp_path / "out.root"
    target.write_bytes(PRECIOUS)
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "new" / "x.root") as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("boom")
    assert not (tmp_path / "new").exists()
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as partial:
        partial.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []
    with atomic_file(target) as partial:
        partial.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_report_folder_replaced_whole_only_on_success(tmp_path):
    folder = tmp_path / "report"
    with atomic_folder(folder) as partial:
        (partial / "old.png").write_bytes(b"1")
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, "old.png"]
    with pytest.raises(RuntimeError), atomic_folder(folder) as partial:
        (partial / "new.png").write_bytes(b"2")
        raise RuntimeError("plotting failed")
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, "old.png"]
    check_output(folder, "--out", folder=True)
    with atomic_folder(folder) as partial:
        (partial / "new.png").write_bytes(b"2")
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, "new.png"]
    assert leftovers(tmp_path) == []


def test_foreign_folder_and_input_inside_refused(tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match=r"thesis\.tex"):
        check_output(mine, "--out", folder=True)
    unmarked = tmp_path / "looks-like-a-report"  # figures and pages, but no marker: not ours
    unmarked.mkdir()
    for name in ("index.html", "report.md", "mtt.png", "mtt.pdf", "mtt.root"):
        (unmarked / name).write_bytes(b"")
    with pytest.raises(OutputError, match=MARKER):
        check_output(unmarked, "--out", folder=True)
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty", "--out", folder=True)  # nothing to lose
    sample = tmp_path / "data" / "sample.root"
    sample.parent.mkdir()
    sample.write_bytes(PRECIOUS)
    with pytest.raises(OutputError, match="contains the input"):
        check_output(sample.parent, "--out", [sample], folder=True)
    with pytest.raises(OutputError, match="is a folder"):
        check_output(mine, "--json")


def test_interrupt_inside_a_numba_kernel_is_an_interruption(victim, tmp_path, capsys, monkeypatch):
    """Ctrl-C arriving inside a numba kernel surfaces as a SystemError caused by the
    KeyboardInterrupt: still an interruption, with the earlier output kept."""
    import nuanalysis.cli.reconstruct as reconstruct_command

    def interrupted(partial, chunks):
        Path(partial).write_bytes(b"half a tree")
        message = "CPUDispatcher(<function _weigh_events>) returned a result with an exception set"
        raise SystemError(message) from KeyboardInterrupt()

    monkeypatch.setattr(reconstruct_command, "write_reconstruction", interrupted)
    out = tmp_path / "reco.root"
    out.write_bytes(PRECIOUS)
    code, err = run_main(
        capsys, "reconstruct", "--input", victim, "--methods", "truth", "--out", out
    )
    assert code == 130
    assert err == "nuanalysis: error: interrupted: unfinished outputs were not written\n"
    assert out.read_bytes() == PRECIOUS
    assert leftovers(tmp_path) == []


def start_slow_reconstruct(victim: Path, out: Path) -> subprocess.Popen:
    """``reconstruct`` with the analysis NW (tens of ms per event) in chunks of 20 events."""
    arguments = ["reconstruct", "--input", victim, "--methods", "nw", "--chunk-size", "20"]
    return subprocess.Popen(
        [sys.executable, "-c", "from nuanalysis.cli import main; main()", *arguments, "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait_until_partial_grows(process: subprocess.Popen, out: Path) -> Path:
    """The partial file once its first chunks are written (the run is then part-way)."""
    partial = out.with_name(f".{out.name}.partial-{process.pid}")
    first_size = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if partial.exists():
            size = partial.stat().st_size
            first_size = first_size or size
            if size > first_size:
                return partial
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no growing partial file: {process.communicate()}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_signal_mid_run_keeps_the_earlier_output(victim, tmp_path, signum):
    out = tmp_path / "reco.root"
    out.write_bytes(PRECIOUS)
    process = start_slow_reconstruct(victim, out)
    partial = wait_until_partial_grows(process, out)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert out.read_bytes() == PRECIOUS
    if signum == signal.SIGTERM:
        assert process.returncode == 143
        assert "terminated (SIGTERM)" in err.decode() and "Traceback" not in err.decode()
        assert not partial.exists()
    else:  # SIGKILL cannot be caught: the clearly named temporary is what is left
        assert process.returncode == -signal.SIGKILL
        assert partial.exists()
