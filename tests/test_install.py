"""The README's set-up block, then its test block, in one folder and one virtual environment.

Reduced so that it runs in CI: the new environment sees this one's packages (no
downloads), the installs are ``--no-deps --no-build-isolation``, the demo runs on 20
events and the test block on one test file. What it checks is what broke: running
the installed package wrote numba caches into ``site-packages/nuanalysis``, and
``pip install -e`` then left that folder behind, hiding the editable package
(``ModuleNotFoundError: No module named 'nuanalysis.flows.presets'``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGES = ("nuanalysis", "baselines", "unfolding")
SETUP = 'pip install ".[root]" && nuanalysis compare --methods flow,nw,ellipse'
TESTS = 'pip install -e ".[root,test]" && python -m pytest'


def _run(command: list[str], folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _installed_files(site_packages: Path) -> dict[str, tuple[int, int]]:
    """Every file of the installed packages: relative path → (size, modification time)."""
    return {
        str(path.relative_to(site_packages)): (path.stat().st_size, path.stat().st_mtime_ns)
        for package in PACKAGES
        for path in (site_packages / package).rglob("*")
        if path.is_file()
    }


@pytest.fixture
def fresh_checkout(tmp_path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of the repository with an empty ``.venv`` that sees this environment's
    packages (a path entry, so their ``.pth`` files, this package's editable one
    included, are not run); the environment variables of a new user's shell."""
    checkout = tmp_path / "checkout"
    shutil.copytree(
        REPOSITORY,
        checkout,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*.egg-info", "build", ".pytest_cache", "samples"
        ),
    )
    venv = checkout / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site_packages / "outer-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
    )
    return checkout, site_packages, env


@pytest.mark.slow
def test_readme_setup_then_tests_in_one_folder_and_nothing_written_into_the_package(
    fresh_checkout,
):
    checkout, site_packages, env = fresh_checkout
    readme = (REPOSITORY / "README.md").read_text()
    assert SETUP in readme and TESTS in readme, "the README's blocks changed: update this test"
    pip = ["python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]

    _run([*pip, "."], checkout, env)
    installed = _installed_files(site_packages)
    assert "nuanalysis/flows/presets.py" in installed
    _run(
        ["nuanalysis", "compare", "--methods", "flow,nw,ellipse", "--max-events", "20"],
        checkout,
        env,
    )
    assert (checkout / "nuanalysis-report" / "index.html").exists()
    assert _installed_files(site_packages) == installed, "the run wrote into the package"
    assert any((Path(env["XDG_CACHE_HOME"]) / "nuanalysis" / "numba").rglob("*.nbi"))

    _run([*pip, "-e", "."], checkout, env)
    assert not any((site_packages / package).exists() for package in PACKAGES)
    _run(["nuanalysis", "train", "--help"], checkout, env)
    where = _run(["python", "-c", "import nuanalysis; print(nuanalysis.__file__)"], "/", env)
    assert Path(where.strip()) == checkout / "nuanalysis" / "__init__.py"
    _run(["python", "-m", "pytest", "-q", "-x", "tests/test_quadratic.py"], checkout, env)
