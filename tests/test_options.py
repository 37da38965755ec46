"""Method options: strict parsing on the command line, the same checks in the Python API,
and every command-line error in one style."""

from __future__ import annotations

import warnings

import pytest

from nuanalysis.cli import main
from nuanalysis.cli.options import method_options
from nuanalysis.errors import OptionError, OptionWarning
from nuanalysis.io import demo_sample_path, load_padded
from nuanalysis.methods.registry import get_method, reconstruct

METHODS = ["nw", "ellipse", "flow", "quadratic"]


def refusal(*settings: str) -> str:
    with pytest.raises(OptionError) as error:
        method_options(METHODS, (), settings)
    return str(error.value)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("nw.top_mass=-172", "option nw.top_mass=-172: must be a top mass from 50 to 300 GeV"),
        ("nw.top_mass=.nan", "option nw.top_mass=.nan: must be a top mass from 50 to 300 GeV"),
        ("nw.top_mass=inf", "option nw.top_mass=inf: must be a top mass from 50 to 300 GeV"),
        ("nw.w_mass=0", "option nw.w_mass=0: must be a W mass from 1 to 160 GeV"),
        ("nw.top_mass=[1,2,3]", "option nw.top_mass=[1,2,3]: must be a top mass from 50 to"),
        ("nw.eta_values=1", "option nw.eta_values=1: must be a list of numbers"),
        ("nw.n_smearings=2.5", "option nw.n_smearings=2.5: must be an integer"),
        ("nw.n_smearings=-1", "n_smearings"),
        ("nw.preset=fast", "option nw.preset=fast: must be one of analysis, grid"),
        ("flow.n_samples=0", "option flow.n_samples=0: must be an integer from 1 to 4096"),
        ("flow.n_samples=-3", "option flow.n_samples=-3: must be an integer from 1 to 4096"),
        ("flow.n_samples=abc", "option flow.n_samples=abc: must be an integer from 1 to 4096"),
        ("flow.n_samples=2.5", "option flow.n_samples=2.5: must be an integer from 1 to 4096"),
        ("ellipse.closest_approach=maybe", "option ellipse.closest_approach=maybe: must be true"),
        ("ellipse.met_resolution=0", "option ellipse.met_resolution=0: must be a positive"),
        ("quadratic.solution=big", "must be one of smaller, larger, both"),
    ],
)
def test_bad_values_are_refused_with_one_clear_message(setting, expected):
    message = refusal(setting)
    assert expected in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("nw.top_mass=1e308", "option nw.top_mass=1e+308: must be a top mass from 50 to 300 GeV"),
        ("nw.w_mass=500", "option nw.w_mass=500: must be a W mass from 1 to 160 GeV"),
        ("ellipse.top_mass=1e308", "must be a top mass from 50 to 300 GeV"),
        ("ellipse.w_mass=500", "option ellipse.w_mass=500: must be a W mass from 1 to 160 GeV"),
        ("ellipse.b_mass=100", "option ellipse.b_mass=100: must be a b-jet mass from 0 to 20"),
        ("ellipse.met_resolution=1e9", "must be a positive number of GeV up to 7000"),
        ("quadratic.w_mass=500", "option quadratic.w_mass=500: must be a W mass from 1 to 160"),
        ("flow.ascent_steps=100000000", "must be an integer from 0 to 1000"),
        ("flow.ascent_draws=100000", "option flow.ascent_draws=100000: must be an integer from 1"),
        ("flow-posterior.n_samples=100000", "must be an integer from 1 to 4096"),
        ("nw.n_smearings=1000000", "2.11e+11 trial solutions per event"),
        ("nw.eta_step=1e-6", "trial solutions per event"),
        ("nw.eta_max=1e5", "the η settings must lie within ±10"),
        ("nw.top_mass_offsets=[0,1000]", "top_mass_offsets must lie within ±50 GeV"),
        ("nw.min_mtt=1e9", "min_mtt must be at most 14000 GeV"),
        ("nw.smearing_fraction=5", "smearing_fraction must be at most 1"),
    ],
)
def test_values_outside_the_physical_range_or_of_unbounded_work_are_refused(setting, expected):
    """Issue reproducers: nw.top_mass=1e308 and nw.w_mass=500 ran with 0 % valid,
    flow.ascent_steps=1e8 for minutes on 20 events."""
    with pytest.raises(OptionError) as error:
        method_options([*METHODS, "flow-posterior"], (), (setting,))
    assert expected in str(error.value) and len(str(error.value).splitlines()) == 1


def test_physical_settings_at_the_range_edges_are_accepted():
    settings = (
        "nw.top_mass=300",
        "nw.w_mass=1",
        "ellipse.b_mass=0",
        "flow.ascent_steps=1000",
        "flow.n_samples=4096",
        "nw.n_smearings=4050",  # the ATLAS NeutrinoWeighter's smearings (module docstring)
    )
    options = method_options(METHODS, (), settings)
    assert options["nw"] == {"top_mass": 300.0, "w_mass": 1.0, "n_smearings": 4050}
    assert options["flow"] == {"ascent_steps": 1000, "n_samples": 4096}


UNBOUNDED = {"seed", "first_event_index", "smearing_seed", "eta_values", "model"}
"""Options whose size costs no work and has no physical range (seeds, indices, inputs)."""


@pytest.mark.parametrize("name", ["nw", "ellipse", "quadratic", "flow", "flow-posterior"])
def test_every_numeric_option_has_a_finite_range(name):
    """An option read as a number is bounded on both sides by its type (configuration
    fields: by the configuration's own checks, tested above)."""
    from nuanalysis.methods.option_types import (
        Range,
        alternatives,
        base_type,
        config_hints,
        metadata,
        option_hints,
    )

    spec = get_method(name)
    named = {k: v for k, v in option_hints(spec).items() if k not in config_hints(spec)}
    for key, hint in named.items():
        for member in alternatives(hint):
            if key in UNBOUNDED or base_type(member) not in (int, float):
                continue
            ranges = [m for m in metadata(member) if isinstance(m, Range)]
            assert ranges and ranges[0].maximum < float("inf"), f"{name}.{key} is unbounded"


def test_unknown_key_names_the_nearest_valid_one():
    message = refusal("nw.presett=grid")
    assert message.startswith("unknown option 'presett' for method nw; valid options: preset,")
    assert message.endswith("did you mean 'preset'?")
    assert "seed" not in message.split("valid options:")[1].split(";")[0].split(", ")


def test_every_bad_value_gets_its_own_line():
    message = refusal("nw.top_mass=-172", "flow.n_samples=0", "ellipse.closest_approach=maybe")
    assert len(message.splitlines()) == 3


def test_values_parse_strictly_as_the_option_type():
    options = method_options(
        METHODS,
        (),
        (
            "ellipse.closest_approach=yes",
            "ellipse.b_mass=none",
            "nw.n_smearings=10",
            "nw.eta_values=[-1, 0, 1.5]",
            "nw.top_mass=173",
            "flow.n_samples=64",
        ),
    )
    assert options["ellipse"] == {"closest_approach": True, "b_mass": None}
    assert options["flow"] == {"n_samples": 64}
    nw = options["nw"]
    assert nw["n_smearings"] == 10 and isinstance(nw["n_smearings"], int)
    assert nw["eta_values"] == (-1.0, 0.0, 1.5)
    assert nw["top_mass"] == 173.0
    assert method_options(METHODS, (), ("ellipse.closest_approach=0",))["ellipse"] == {
        "closest_approach": False
    }


@pytest.fixture(scope="module")
def dilepton():
    return load_padded(demo_sample_path("dilepton"), max_events=40)


@pytest.fixture(scope="module")
def semileptonic():
    return load_padded(demo_sample_path("semileptonic"), max_events=12)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("nw", {"top_mass": -172.0}, "must be a top mass from 50 to 300 GeV"),
        ("nw", {"n_smearings": 2.5}, "must be an integer"),
        ("nw", {"presett": "grid"}, "did you mean 'preset'"),
        ("ellipse", {"closest_approach": "maybe"}, "must be true or false"),
        ("ellipse", {"w_mass": [80.4, float("nan")]}, "must be a W mass from 1 to 160 GeV"),
        ("ellipse", {"top_mass": [172.5, 1e308]}, "must be a top mass from 50 to 300 GeV"),
        ("flow", {"n_samples": 0}, "must be an integer from 1 to 4096"),
        ("flow", {"ascent_steps": 10**8}, "must be an integer from 0 to 1000"),
        ("nw", {"n_smearings": 10**6}, "trial solutions per event"),
    ],
)
def test_python_api_refuses_the_same_values(dilepton, name, options, expected):
    with pytest.raises(OptionError, match=expected):
        reconstruct(name, dilepton, **options)


def test_one_eta_list_for_every_event(dilepton):
    grid = [0.25 * k for k in range(-12, 13)]
    listed = reconstruct("nw", dilepton, preset="grid", eta_values=grid)
    per_event = reconstruct(
        "nw", dilepton, preset="grid", eta_values=[[grid, grid]] * len(dilepton)
    )
    assert listed.valid.any()
    assert (listed.momenta == per_event.momenta).all()
    assert set(listed.extras["eta"][listed.valid].ravel()) <= set(grid)


def test_option_for_another_channel_warns(dilepton, semileptonic):
    with pytest.warns(OptionWarning, match="met_resolution applies to semileptonic events only"):
        reconstruct("ellipse", dilepton, met_resolution=5.0)
    with pytest.warns(OptionWarning, match="closest_approach applies to dilepton events only"):
        reconstruct("ellipse", semileptonic, closest_approach=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reconstruct("ellipse", semileptonic, met_resolution=5.0)


def run_main(capsys, *args) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
        raise SystemExit(0)
    return stop.value.code, capsys.readouterr().err


def test_errors_in_one_style(tmp_path, capsys):
    out = tmp_path / "reco.root"
    code, err = run_main(
        capsys,
        "reconstruct",
        "--input",
        demo_sample_path("dilepton"),
        "--methods",
        "nw,flow",
        "--option",
        "nw.top_mass=-172",
        "--option",
        "flow.n_samples=abc",
        "--out",
        out,
    )
    assert code == 2 and not out.exists()
    assert sorted(err.splitlines()) == [
        "nuanalysis: error: option flow.n_samples=abc: must be an integer from 1 to 4096",
        "nuanalysis: error: option nw.top_mass=-172: must be a top mass from 50 to 300 GeV",
    ]
    code, err = run_main(capsys, "reconstruct", "--methods", "truth", "--input", "x.root")
    assert code == 2
    assert err.splitlines() == [
        "nuanalysis: error: missing option '--out'",
        "(see 'nuanalysis reconstruct --help')",
    ]
    code, err = run_main(
        capsys, "reconstruct", "--methods", "truth", "--input", tmp_path / "no.root", "--out", out
    )
    assert code == 1 and err.startswith("nuanalysis: error: input file not found")


def test_nw_configuration_refuses_non_integers_and_non_finite_values():
    """The configuration checks itself, for callers of baselines.neutrino_weighting too."""
    from baselines.neutrino_weighting import NeutrinoWeightingConfig

    with pytest.raises(ValueError, match="n_smearings must be an integer"):
        NeutrinoWeightingConfig(n_smearings=2.5)
    with pytest.raises(ValueError, match="smearing_fraction must be finite"):
        NeutrinoWeightingConfig(smearing_fraction=float("nan"))
    assert NeutrinoWeightingConfig(n_smearings=3, b_mass=None).n_smearings == 3
