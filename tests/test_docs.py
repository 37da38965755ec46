"""The repository is self-contained: every file its code and docs cite is in it.

Citations checked in every ``.py``, ``.md`` and ``.ipynb`` file of the repository:

* repository-relative paths (``docs/schema.md``, ``nuanalysis/data/README.md``, …)
  name a file or folder that exists;
* Markdown links (``[text](target)``) point at a file that exists, relative to the
  page that links;
* a cited section (``docs/methods.md, "Baselines as analysts configure them"``) is a
  heading (or, in the README, a bold paragraph title) of that page;
* nothing cites the team's design notes, which are not part of the repository.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_FOLDERS = ("docs", "nuanalysis", "baselines", "unfolding", "benchmarks", "examples", "tests")
PATH_CITATION = re.compile(
    rf"(?<![\w/.\-])((?:{'|'.join(TOP_FOLDERS)})/[\w./\-]*[\w])(?![\w/<{{*$\\])"
)
"""A repository-relative path: a top folder, then path characters; one followed by a
placeholder (``demo_<channel>.root``, ``dilepton_mt*.root``) or a regular expression's
escape (``atlas_mev\\.toml``) is a pattern, not a file."""
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SECTION_CITATION = re.compile(r"((?:docs/\w+|README)\.md),? \"([^\"]+)\"")
OUTSIDE = "DESIGN" + ".md"  # spelled apart so that this file does not cite it


def repository_files() -> list[Path]:
    """The ``.py``, ``.md`` and ``.ipynb`` files of the repository (tracked or not, minus
    what git ignores; every file under it where git is not available)."""
    suffixes = {".py", ".md", ".ipynb"}
    git = shutil.which("git")
    listed = None
    if git and (ROOT / ".git").exists():
        run = subprocess.run(
            [git, "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            text=True,
        )
        if run.returncode == 0:
            listed = [ROOT / line for line in run.stdout.splitlines()]
    if listed is None:
        listed = [p for p in ROOT.rglob("*") if not any(part.startswith(".") for part in p.parts)]
    return sorted(p for p in listed if p.suffix in suffixes and p.is_file())


def readable_text(path: Path) -> str:
    """What a reader sees of ``path``: a notebook's cell sources, other files as they are."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def markdown_text(path: Path) -> str:
    """The Markdown of ``path``: a page, or a notebook's Markdown cells."""
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


FILES = repository_files()


def cited_paths(text: str) -> set[str]:
    return {match.rstrip(".") for match in PATH_CITATION.findall(text)}


def exists(cited: str) -> bool:
    """``cited`` is a file or folder of the repository, or the stem of one (a path without
    its suffix, as a test's expected message may quote it)."""
    path = ROOT / cited
    return path.exists() or (not path.suffix and any(path.parent.glob(path.name + ".*")))


def section_titles(page: Path) -> set[str]:
    """Headings of a Markdown page, and the bold titles that open a paragraph
    (``**Input checks.**``), whitespace-normalised."""
    text = page.read_text(encoding="utf-8")
    titles = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    titles |= {m.rstrip(".") for m in re.findall(r"^\*\*([^*]+)\*\*", text, re.M)}
    return {" ".join(t.split()) for t in titles}


def test_the_files_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "docs/schema.md", "nuanalysis/schema.py", "tests/test_docs.py"} <= names


def test_nothing_cites_a_file_outside_the_repository():
    citing = [p.relative_to(ROOT).as_posix() for p in FILES if OUTSIDE in p.read_text("utf-8")]
    assert not citing, f"{OUTSIDE} is not in the repository; cite docs/ instead: {citing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_cited_repository_path_exists(path):
    missing = sorted(c for c in cited_paths(readable_text(path)) if not exists(c))
    assert not missing, f"{path.relative_to(ROOT)} cites files not in the repository: {missing}"


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if p.suffix in (".md", ".ipynb")],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_every_markdown_link_points_at_a_file(path):
    broken = []
    for target in LINK.findall(markdown_text(path)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        if not (path.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)}: links to missing files {broken}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_cited_section_exists(path):
    text = " ".join(readable_text(path).split())  # docstrings wrap titles over lines
    missing = [
        (page, title)
        for page, title in SECTION_CITATION.findall(text)
        if (ROOT / page).is_file() and " ".join(title.split()) not in section_titles(ROOT / page)
    ]
    assert not missing, f"{path.relative_to(ROOT)} cites sections that do not exist: {missing}"


def test_the_checks_catch_a_missing_file_and_section():
    """The patterns find what they must (so that the tests above can fail)."""
    assert cited_paths("see docs/schema.md, and nuanalysis/data/demo_<channel>.root") == {
        "docs/schema.md"
    }
    assert cited_paths("https://github.com/x/docs/a.md or ./docs/b.md") == set()
    assert exists("docs/schema") and not exists("docs/" + "no_such_page.md")
    found = SECTION_CITATION.findall("(docs/" + 'methods.md, "No such section")')
    assert found == [("docs/methods.md", "No such section")]
    assert "No such section" not in section_titles(ROOT / "docs" / "methods.md")
    assert "Input checks" in section_titles(ROOT / "README.md")
