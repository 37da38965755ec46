"""Trust (issue 24, W1–W4, W6, W8's --sigmas) and shipped mappings by name (issue 20, item 6).

Each test is an issue's reproducer: a value the schema does not allow, read
directly or through a mapping, is refused in one line naming the branch (as
the file calls it), the entry and the rule broken, never read as a plausible
other value.
"""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import make_branches

from nuanalysis import io
from nuanalysis.errors import InputError
from nuanalysis.mapping import load_mapping, mapping_path, shipped_mappings


def _write(path, branches: dict, tree: str = "events"):
    """A tree of arbitrary branch names: jagged ``<collection>_<field>`` arrays are
    zipped per collection (counter ``n<collection>``), the others written flat."""
    jagged: dict[str, dict] = {}
    flat = {}
    for name, values in branches.items():
        if isinstance(values, ak.Array) and values.ndim == 2:
            collection, _, field = name.partition("_")
            jagged.setdefault(collection, {})[field] = values
        else:
            flat[name] = np.asarray(values)
    data = {**{c: ak.zip(f) for c, f in jagged.items()}, **flat}
    with uproot.recreate(path) as file:
        file.mktree(tree, {k: v.type if isinstance(v, ak.Array) else v.dtype
                           for k, v in data.items()}).extend(data)  # fmt: skip
    return path


def _reco(channel: str, n: int = 20, seed: int = 5) -> dict:
    return {k: v for k, v in make_branches(channel, n, seed=seed, truth=False).items()}


def _set(values: ak.Array, entry: int, index: int, new) -> ak.Array:
    """``values`` with object ``index`` of ``entry`` replaced by ``new`` (dtype kept unless
    ``new`` needs a wider one)."""
    counts = ak.num(values)
    flat = ak.to_numpy(ak.flatten(values))
    flat = flat.astype(np.result_type(flat.dtype, np.asarray(new).dtype))
    flat[int(ak.sum(counts[:entry])) + index] = new
    return ak.unflatten(flat, counts)


def _with_energy(branches: dict) -> dict:
    """The jets' mass replaced by their energy ``jet_e`` (as AnalysisTop stores them)."""
    pt, eta, mass = (branches[f"jet_{f}"] for f in ("pt", "eta", "mass"))
    out = {k: v for k, v in branches.items() if k != "jet_mass"}
    out["jet_e"] = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    return out


ENERGY_MAPPING = {"branches": {"jet_e": "jet_e"}}


# --------------------------------------------------------------- W1: mapped energies


def test_mapped_energy_is_checked_like_a_mass(tmp_path):
    """W1: E = −117 GeV was read as +117 (m = 73), E < |p| as a massless jet."""
    branches = _with_energy(_reco("semileptonic"))
    good = io.load_padded(_write(tmp_path / "good.root", branches), mapping=ENERGY_MAPPING)
    reference = io.load_padded(_write(tmp_path / "ref.root", _reco("semileptonic")))
    np.testing.assert_allclose(good.jets, reference.jets, rtol=1e-4, atol=1e-3)

    negative = {**branches, "jet_e": _set(branches["jet_e"], 3, 0, -117.0)}
    path = _write(tmp_path / "negative.root", negative)
    with pytest.raises(
        InputError, match=r"branch 'jet_e' holds a negative energy.*entry 3: E = -117"
    ):
        io.load_padded(path, mapping=ENERGY_MAPPING)

    momentum = float(branches["jet_pt"][4][1] * np.cosh(branches["jet_eta"][4][1]))
    below = {**branches, "jet_e": _set(branches["jet_e"], 4, 1, 0.5 * momentum)}
    path = _write(tmp_path / "below.root", below)
    with pytest.raises(InputError, match=r"'jet_e' holds an energy below the momentum.*entry 4"):
        io.load_padded(path, mapping=ENERGY_MAPPING)


def test_energy_beyond_the_bound_names_the_branch_at_fault(tmp_path):
    """A jet_mass of 1e30 was reported as 'jet_eta' holding an energy beyond 14000 GeV."""
    branches = _reco("dilepton")
    changed = {**branches, "jet_mass": _set(branches["jet_mass"], 2, 0, 1e30)}
    with pytest.raises(InputError, match=r"branch 'jet_mass' holds an energy beyond 14000 GeV"):
        io.read_events(_write(tmp_path / "mass.root", changed))
    energy = _with_energy(branches)
    changed = {**energy, "jet_e": _set(energy["jet_e"], 2, 0, 1e30)}
    path = _write(tmp_path / "energy.root", changed)
    with pytest.raises(InputError, match=r"branch 'jet_e' holds an energy beyond 14000 GeV"):
        io.read_events(path, mapping=ENERGY_MAPPING)


# --------------------------------------------------------------- W2: integer values


@pytest.mark.parametrize(
    ("branch", "value", "shown"),
    [
        ("lep_pid", np.int32(269), "269"),  # wrapped to 13 by the int8 cast
        ("lep_charge", np.int32(257), "257"),  # wrapped to 1
        ("lep_charge", np.int32(-257), "-257"),  # wrapped to -1
        ("lep_charge", np.float32(1.7), "1.7"),  # truncated to 1
        ("lep_charge", np.float32(-1.7), "-1.7"),
    ],
)
def test_integer_branches_hold_exactly_what_the_schema_allows(tmp_path, branch, value, shown):
    """W2: pid 269 was read as 13, charge ±257 as ±1, float charge ±1.7 as ±1."""
    branches = _reco("dilepton")
    changed = {**branches, branch: _set(branches[branch], 6, 1, value)}
    path = _write(tmp_path / "bad.root", changed)
    pattern = rf"bad\.root: branch '{branch}' holds {shown}\S* at entry 6, a value {branch}"
    with pytest.raises(InputError, match=pattern):
        io.read_events(path)


def test_exact_float_charges_and_signed_pids_are_read(tmp_path):
    """What the schema allows in a wider type is read: charge ±1.0 as float, pid ±11/±13."""
    branches = _reco("dilepton")
    charge = ak.values_astype(branches["lep_charge"], np.float32)
    signed = branches["lep_pid"] * -branches["lep_charge"]  # PDG: ℓ⁻ positive
    path = _write(tmp_path / "wide.root", {**branches, "lep_charge": charge, "lep_pid": signed})
    events = io.read_events(path)
    assert ak.all(events.leptons.charge == branches["lep_charge"])
    assert ak.all(events.leptons.pid == branches["lep_pid"])


# --------------------------------------------------------------- W3: unit scale


def test_implausible_scale_is_refused_both_ways(tmp_path):
    """W3: a GeV file read with scale = 0.001 ran silently; MeV without it is refused too."""
    path = _write(tmp_path / "gev.root", _reco("semileptonic"))
    with pytest.raises(InputError, match=r"median pT is 0\.0\d+ GeV.*wrong unit.*scale = 0\.001"):
        io.load_padded(path, mapping={"scale": 0.001})
    mev = {k: v * 1000.0 if k in ("jet_pt", "jet_mass", "lep_pt", "lep_mass", "met") else v
           for k, v in _reco("semileptonic").items()}  # fmt: skip
    with pytest.raises(InputError, match=r"looks like it is in MeV"):
        io.load_padded(_write(tmp_path / "mev.root", mev))
    assert len(io.load_padded(_write(tmp_path / "mev2.root", mev), mapping={"scale": 0.001})) == 20


# --------------------------------------------------------------- W4: pT order


@pytest.mark.parametrize(("channel", "collection"), [("semileptonic", "jet"), ("dilepton", "lep")])
def test_objects_out_of_pt_order_are_refused_or_sorted_on_request(tmp_path, channel, collection):
    """W4: jets and leptons in reversed pT order changed every method's result silently."""
    branches = _reco(channel)
    reversed_ = {
        k: v[:, ::-1] if k.startswith(f"{collection}_") else v for k, v in branches.items()
    }
    path = _write(tmp_path / "reversed.root", reversed_)
    with pytest.raises(
        InputError, match=rf"branch '{collection}_pt' is not in decreasing pT order at entry 0"
    ):
        io.load_padded(path)
    ordered = io.load_padded(_write(tmp_path / "ordered.root", branches))
    resorted = io.load_padded(path, mapping={"sort_by_pt": True})
    np.testing.assert_array_equal(resorted.jets, ordered.jets)
    np.testing.assert_array_equal(resorted.leptons, ordered.leptons)
    np.testing.assert_array_equal(resorted.lep_charge, ordered.lep_charge)
    np.testing.assert_array_equal(resorted.jet_btag, ordered.jet_btag)


# --------------------------------------------------------------- W6: b-tag scores


def test_btag_scores_need_a_working_point(tmp_path):
    """W6: float b-tag scores (0.05, 0.35) counted every jet as tagged."""
    branches = _reco("semileptonic")
    rng = np.random.default_rng(0)
    scores = ak.unflatten(
        rng.choice([0.05, 0.35], size=int(ak.sum(ak.num(branches["jet_pt"])))).astype(np.float32),
        ak.num(branches["jet_pt"]),
    )
    path = _write(tmp_path / "scores.root", {**branches, "jet_btag": scores})
    with pytest.raises(
        InputError, match=r"branch 'jet_btag' holds 0\.\d+ at entry 0, a b-tag that is not a "
        r"decision \(0 or 1\).*btag_working_point",
    ):  # fmt: skip
        io.load_padded(path)
    events = io.load_padded(path, mapping={"btag_working_point": 0.2})
    expected = ak.fill_none(ak.pad_none(scores >= 0.2, events.jet_btag.shape[1], clip=True), False)
    np.testing.assert_array_equal(events.jet_btag, ak.to_numpy(expected))
    assert 0 < events.jet_btag.sum() < events.jet_mask.sum()

    mask = ak.values_astype(scores * 10, np.int32)  # a Delphes-like bit mask: 0 or 3
    path = _write(tmp_path / "mask.root", {**branches, "jet_btag": mask})
    with pytest.raises(InputError, match=r"'jet_btag' holds 3 at entry"):
        io.load_padded(path)
    tagged = io.load_padded(path, mapping={"btag_working_point": 1}).jet_btag
    np.testing.assert_array_equal(tagged, events.jet_btag)


def test_events_built_in_memory_pass_the_same_value_checks():
    """to_padded on awkward events: a float b-tag or a charge of 1.7 is refused too."""
    events = io.read_events(io.demo_sample_path("semileptonic"), entry_stop=20)
    assert io.to_padded(events).jet_btag.any()
    scores = ak.copy(events)
    scores["jets", "btag"] = events.jets.pt * 0 + 0.35
    with pytest.raises(InputError, match=r"events: branch 'jets.btag' holds 0\.35 at entry 0"):
        io.to_padded(scores)
    charge = ak.copy(events)
    charge["leptons", "charge"] = events.leptons.charge * 1.7
    with pytest.raises(InputError, match=r"branch 'leptons.charge' holds -?1\.7 at entry 0"):
        io.to_padded(charge)


# --------------------------------------------------------------- W8: --sigmas values


@pytest.mark.parametrize("value", ["Infinity", "NaN", "true", "-1", "1e400", '"5"'])
def test_sigmas_file_values_are_refused_in_one_line(tmp_path, capsys, value):
    """W8: `Infinity` in --sigmas gave a traceback, `true` became a σ of 1 GeV."""
    from nuanalysis.cli import main

    sigmas = tmp_path / "sigmas.json"
    sigmas.write_text(f'{{"truth": {{"lnu": 10, "blnu": {value}, "qq": 10, "bqq": 15}}}}')
    with pytest.raises(SystemExit) as stop:
        main(["assign", "--methods", "truth", "--max-events", "40", "--no-report",
              "--sigmas", str(sigmas)])  # fmt: skip
    error = capsys.readouterr().err
    assert stop.value.code == 1, error
    assert error.count("\n") == 1 and error.startswith("nuanalysis: error: ")
    assert "sigmas.json" in error and "Traceback" not in error


def test_sigmas_file_with_finite_positive_values_loads(tmp_path):
    from nuanalysis.assignment import load_sigmas

    sigmas = tmp_path / "sigmas.json"
    values = {"truth": {"lnu": 10, "blnu": 22.5, "qq": 10, "bqq": 15}}
    sigmas.write_text(json.dumps(values))
    assert load_sigmas(sigmas) == {"truth": {k: float(v) for k, v in values["truth"].items()}}


@pytest.mark.parametrize("value", ["true", "Infinity", "-0.5", "null"])
def test_posterior_rules_in_a_sigmas_file_are_finite_numbers(tmp_path, value):
    """The --sigmas file's posterior_rule: `true` was read as λ = 1, Infinity passed to T."""
    from nuanalysis.assignment import load_posterior_rules

    path = tmp_path / "assign.json"
    rule = {"log_prob_weight": 0.5, "temperature": 2.0, "calibration_accuracy": None}
    path.write_text(json.dumps({"posterior_rule": {"flow-posterior": rule}}))
    assert load_posterior_rules(path) == {"flow-posterior": {"log_prob_weight": 0.5,
                                                             "temperature": 2.0}}  # fmt: skip
    path.write_text(json.dumps({"posterior_rule": {"flow-posterior": rule}}).replace(
        '"log_prob_weight": 0.5', f'"log_prob_weight": {value}'))  # fmt: skip
    with pytest.raises(InputError, match=r"assign\.json: .*(posterior_rule|Infinity)"):
        load_posterior_rules(path)


# --------------------------------------------------------------- issue 20 item 6


def test_shipped_mappings_are_usable_by_name_and_say_so():
    """`--mapping atlas_mev.toml`, as the file's comment said, failed; names work now."""
    shipped = shipped_mappings()
    assert {"atlas_mev", "delphes"} <= set(shipped)
    for name, path in shipped.items():
        assert mapping_path(name) == path == mapping_path(f"{name}.toml")
        assert load_mapping(name) == load_mapping(path)
        text = path.read_text()
        assert f"--mapping {name} " in text and f'mapping="{name}"' in text
        assert "mappings/" not in text  # no path into a checkout
    with pytest.raises(InputError, match=r"mapping file not found: atlas.*atlas_mev, delphes"):
        mapping_path("atlas")


def test_cli_takes_a_shipped_mapping_by_name_and_spells_fixes_its_way(tmp_path, capsys):
    """The "no tree" error suggested `mapping=...` (Python) on the command line."""
    from nuanalysis.cli import main

    path = _write(tmp_path / "foreign.root", _reco("semileptonic"), tree="nominal")
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--input", str(path), "--methods", "truth", "--no-report"])
    error = capsys.readouterr().err
    assert stop.value.code == 1 and "no tree 'events'" in error
    assert "--mapping atlas_mev" in error and "mapping=" not in error
    with pytest.raises(InputError, match=r"no tree 'events'.*mapping='atlas_mev'") as python:
        io.read_events(path)
    assert "--mapping" not in str(python.value)

    # by name: the shipped ATLAS mapping reads tree "nominal" (and refuses this GeV file's
    # missing el_*/mu_* branches by their mapped names)
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--input", str(path), "--methods", "truth", "--no-report",
              "--mapping", "atlas_mev"])  # fmt: skip
    error = capsys.readouterr().err
    assert stop.value.code == 1 and "'el_pt' + 'mu_pt'" in error, error
    assert "atlas_mev.toml" in error
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--input", str(path), "--mapping", "nope", "--no-report"])
    assert stop.value.code == 2 and "atlas_mev, delphes" in capsys.readouterr().err
