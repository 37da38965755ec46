"""README.md runs as written: its Python snippet, and every ``nuanalysis`` command in it.

The commands run in a scratch folder whose ``samples/`` holds the shipped demo
samples under the names the README uses (``eval_dilepton.root`` …), and with
few events: the only changes to a command are :func:`smaller`'s (``--events``,
``--max-events``, ``--epochs``, ``--draws``), so a README command that no longer parses, a
renamed option or a command failing on the demo data fails here. ``generate``
runs first, as its own process (its ``--jobs`` forks, and FastJet's banner must
show once); the others in this process through the click group.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

RUN_COMMANDS = ("reconstruct", "compare", "assign", "unfold", "masscan")
MAX_EVENTS = "300"
GENERATED_EVENTS = "40"
STAND_INS = {
    "eval_dilepton.root": "dilepton",
    "eval_semileptonic.root": "semileptonic",
    "train_dilepton.root": "dilepton",
}
"""samples/ files the README reads, and the demo sample standing in for each."""
MASS_STAND_INS = {"mass/dilepton_mt169.root": 169.0, "mass/dilepton_mt176.root": 176.0}
"""Top-mass samples the README reads: the dilepton demo sample, recorded at these masses."""


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.M | re.S)


def readme_commands() -> list[list[str]]:
    """Every ``nuanalysis`` command of the README's bash blocks, in order (chained
    ``a && b`` commands split, comments dropped), as argument lists."""
    commands = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0] == "nuanalysis":
                    commands.append(words[1:])
    return commands


def _set(words: list[str], option: str, value: str) -> list[str]:
    """``words`` with ``option`` given ``value`` (replaced, or added at the end)."""
    if option in words:
        index = words.index(option)
        return [*words[: index + 1], value, *words[index + 2 :]]
    return [*words, option, value]


def smaller(words: list[str]) -> list[str]:
    """The command with few events: all a README command changes to run here."""
    if words[0] in RUN_COMMANDS:
        return _set(words, "--max-events", MAX_EVENTS)
    if words[0] == "generate":
        return _set(words, "--events", GENERATED_EVENTS)
    if words[0] == "train":
        return _set(_set(words, "--max-events", MAX_EVENTS), "--epochs", "1")
    if words[0] == "calibrate":
        return _set(_set(words, "--events", GENERATED_EVENTS), "--draws", "16")
    return words


def test_readme_python_snippets_run_as_written(tmp_path, monkeypatch, capsys):
    blocks = code_blocks("python")
    assert blocks, "README.md has no python block"
    monkeypatch.chdir(tmp_path)  # the snippet must not rely on the repository's folders
    for block in blocks:
        if "coffea" in block and importlib.util.find_spec("coffea") is None:
            continue  # the columnar extra is not installed (it is in CI's test extra)
        exec(compile(block, "README.md", "exec"), {})
    found = re.search(r"NW found neutrinos in (\d+)% of 500 events", capsys.readouterr().out)
    assert found and 50 <= int(found.group(1)) <= 100


def test_readme_commands_run_as_written_on_the_demo_samples(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nuanalysis.cli import cli
    from nuanalysis.generation.record import write_generation_record
    from nuanalysis.io import demo_sample_path

    commands = readme_commands()
    names = [words[0] for words in commands]
    assert {"generate", "train", *RUN_COMMANDS} <= set(names), names
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples").mkdir()
    executable = shutil.which("nuanalysis", path=str(Path(sys.executable).parent))
    assert executable, "the nuanalysis command is not installed beside this Python"
    for words in (w for w in commands if w[0] == "generate"):
        run = subprocess.run(
            [executable, *smaller(words)], capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, (words, run.stderr[-3000:])
        assert (run.stdout + run.stderr).count("FastJet release") <= 1, words
    for name, channel in STAND_INS.items():
        shutil.copy(demo_sample_path(channel), tmp_path / "samples" / name)
    (tmp_path / "samples" / "mass").mkdir()
    for name, top_mass in MASS_STAND_INS.items():
        shutil.copy(demo_sample_path("dilepton"), tmp_path / "samples" / name)
        write_generation_record(tmp_path / "samples" / name, {"top_mass": top_mass})
    runner = CliRunner()
    for words in (w for w in commands if w[0] != "generate"):
        result = runner.invoke(cli, smaller(words))
        assert result.exit_code == 0, (words, result.output[-3000:], result.exception)
        if words[0] == "unfold":
            assert "not unfolded" not in result.output
            assert "ratio to truth, median (mean) over bins: flow" in result.output
