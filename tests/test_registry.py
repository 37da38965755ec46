"""What the toolkit knows of a method is given once, at ``register(...)``, and read from there."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest
from matplotlib.colors import is_color_like

from nuanalysis import plotting
from nuanalysis.cli.options import RunRequest
from nuanalysis.methods import registry
from nuanalysis.methods.registry import (
    available_methods,
    get_method,
    posterior_methods,
    reference_method,
)
from nuanalysis.methods.spec import MethodSpec

PACKAGE = Path(__file__).resolve().parents[1] / "nuanalysis"

OTHER_MEANINGS = {
    # the data level "truth" (branch groups, the ntuple's truth record, a spectrum's key)
    ("schema.py", "truth"): 4,
    ("io/reading.py", "truth"): 2,
    ("io/padding.py", "truth"): 1,
    ("formats/common.py", "truth"): 1,
    ("plotting.py", "truth"): 2,  # the unfolded figure's truth spectrum and response axis
    ("unfold_study.py", "truth"): 2,  # the truth spectrum's JSON key; REFERENCE (see below)
    # the model file types "flow" and "ff" (a model's type, not a method)
    ("flows/flow.py", "flow"): 1,
    ("flows/regression.py", "ff"): 1,
    ("flows/inference.py", "flow"): 2,
    ("flows/inference.py", "ff"): 1,
    ("flows/model_io.py", "flow"): 3,
    ("flows/model_io.py", "ff"): 2,
    ("flows/onnx_export.py", "flow"): 6,
    ("flows/onnx_export.py", "ff"): 1,
    ("cli/train.py", "flow"): 2,
    ("cli/train.py", "ff"): 1,
    ("cli/export.py", "flow"): 1,
    ("cli/calibrate.py", "flow"): 1,
    ("comparison.py", "flow"): 1,
    # the quadratic interpolation of the mass templates
    ("masscan.py", "quadratic"): 1,
    ("cli/masscan.py", "quadratic"): 1,
}
"""String literals outside ``methods/`` that spell a method's name but mean something else,
and how often each file may hold one. ``unfold_study.REFERENCE`` is the one method name left
outside ``methods/``: the unfolding study is being rewritten, and takes
:func:`~nuanalysis.methods.registry.reference_method` then."""


def method_literals(names: set[str], package: Path = PACKAGE) -> Counter:
    """(file, literal) → how often a string literal of ``package`` outside ``methods/`` (its
    docstrings aside) equals a method name."""
    found: Counter = Counter()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("methods/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in names
                and id(node) not in docstrings
            ):
                found[(relative, node.value)] += 1
    return found


def test_every_method_has_its_own_label_and_colour():
    specs = [get_method(name) for name in available_methods()]
    for spec in specs:
        assert spec.label.strip() and spec.label != spec.name, spec.name
        assert is_color_like(spec.color), f"{spec.name}: {spec.color!r} is no colour"
    assert len({s.label for s in specs}) == len(specs), "two methods share a label"
    assert len({s.color for s in specs}) == len(specs), "two methods share a colour"


def test_no_module_outside_methods_names_a_method():
    found = method_literals(set(available_methods()))
    extra = {key: count for key, count in found.items() if count > OTHER_MEANINGS.get(key, 0)}
    assert not extra, f"method names spelled outside nuanalysis/methods/: {extra}"


def test_the_scan_finds_a_method_name_but_not_in_methods_or_docstrings(tmp_path):
    """The scan above can fail: a module naming a method is found; ``methods/`` and
    docstrings are not scanned."""
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "nw.py").write_text('NAME = "nw"\n', encoding="utf-8")
    (tmp_path / "colours.py").write_text(
        '"""nw"""\n\nCOLOURS = {"nw": "tab:purple"}\n', encoding="utf-8"
    )
    assert method_literals({"nw"}, tmp_path) == Counter({("colours.py", "nw"): 1})


def test_roles_are_read_from_the_registry():
    assert reference_method() == "truth"
    assert posterior_methods() == ["flow-posterior"]
    weighted = {name for name in available_methods() if get_method(name).weighted}
    assert weighted == {"flow", "flow-sample", "flow-posterior", "nw"}


@pytest.fixture
def stand_in(monkeypatch):
    """A method registered for one test only, with a label and colour of its own."""
    available_methods()
    spec = MethodSpec(
        "stand-in",
        ("dilepton",),
        lambda events: None,
        "test stand-in",
        label="Stand-in",
        color="tab:pink",
    )
    monkeypatch.setitem(registry.REGISTERED, spec.name, spec)
    return spec


def test_figures_take_label_and_colour_from_the_registry(stand_in):
    assert plotting.label(stand_in.name) == "Stand-in"
    assert plotting.color(stand_in.name) == "tab:pink"


def test_figures_refuse_an_unregistered_method():
    """No silent fallback to the bare name: an unknown method is an error naming it."""
    with pytest.raises(KeyError, match="unknown method 'no-such-method'"):
        plotting.label("no-such-method")


def request(settings: tuple[str, ...]) -> RunRequest:
    return RunRequest(
        methods=["truth", "flow", "nw"],
        paths=[],
        channel="dilepton",
        mapping=None,
        models=(),
        settings=settings,
        max_events=None,
        chunk_size=100,
        seed=0,
        jobs=1,
        scheduler=None,
    )


def test_options_are_resolved_once_and_read_by_provenance(monkeypatch):
    """``--option`` is parsed and checked once per run: the runner's options and the
    provenance block are the same resolved value."""
    from nuanalysis.cli import options as cli_options
    from nuanalysis.provenance import provenance

    calls = []
    resolve = cli_options.resolved_methods
    monkeypatch.setattr(
        cli_options,
        "resolved_methods",
        lambda *args: calls.append(args) or resolve(*args),
    )
    run = request(("flow.estimator=draws", "nw.n_smearings=10"))
    runner_options = run._runner_arguments(None)["options"]
    block = provenance(run, "compare", "dilepton")
    assert len(calls) == 1
    assert runner_options == {"flow": {"estimator": "draws"}, "nw": {"n_smearings": 10}}
    assert block["method_options"] == runner_options
    assert set(block["models"]) == {"flow"}  # the learned method, with its shipped model
