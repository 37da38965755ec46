"""``generate --resmear N``: each Pythia event through the detector N times, recorded in it."""

from __future__ import annotations

import numpy as np
import uproot
from click.testing import CliRunner

from nuanalysis.cli import cli
from nuanalysis.flows.training import split_indices
from nuanalysis.generation.record import read_generation_record, source_groups

TRUTH = ("truth_nu_pt", "truth_nu_eta", "truth_nu_phi", "truth_parton_pt", "truth_top_pt")
RECO = ("met", "met_phi", "lep_pt", "jet_pt")


def test_resmeared_copies_share_truth_differ_in_reco_and_the_file_says_so(tmp_path):
    out = tmp_path / "copies.root"
    args = ["generate", "--channel", "semileptonic", "--events", "30", "--seed", "17"]
    result = CliRunner().invoke(cli, [*args, "--resmear", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output

    record = read_generation_record(out)
    assert record["resmear"] == 3 and record["seed"] == 17 and record["n_selected"] == 30
    assert "--resmear 3" in record["command"] and record["channel"] == "semileptonic"

    with uproot.open(out) as file:
        arrays = file["events"].arrays(library="ak")
    source, copy = np.asarray(arrays["source_event"]), np.asarray(arrays["copy_index"])
    assert set(np.unique(copy)) <= {0, 1, 2}
    assert len(set(zip(source, copy, strict=True))) == len(source)  # one entry per pass
    shared = [s for s in np.unique(source) if (source == s).sum() > 1]
    assert shared, "some Pythia event should pass the selection in two detector passes"
    for s in shared:
        rows = np.flatnonzero(source == s)
        for name in TRUTH:
            values = [np.asarray(arrays[name][i]).tolist() for i in rows]
            assert all(v == values[0] for v in values), name
        assert len({float(arrays["met"][i]) for i in rows}) == len(rows)
        for name in RECO[2:]:
            values = [np.asarray(arrays[name][i]).tolist() for i in rows]
            assert any(v != values[0] for v in values[1:]), name
    # the training hold-out keeps every Pythia event's copies on one side
    groups = source_groups([out, out], 60)
    assert groups is not None and len(np.unique(groups)) == 2 * len(np.unique(source))
    train_index, valid_index = split_indices(60, 0.2, seed=0, groups=groups)
    assert not set(groups[train_index]) & set(groups[valid_index])
    assert len(train_index) + len(valid_index) == 60 and 6 <= len(valid_index) <= 24
    # distinct Pythia events have distinct truth
    first = [np.flatnonzero(source == s)[0] for s in np.unique(source)]
    assert len({float(arrays["truth_top_pt"][i]) for i in first}) == len(first)


def test_without_resmear_every_entry_is_its_own_event(tmp_path):
    out = tmp_path / "plain.root"
    args = ["generate", "--channel", "dilepton", "--events", "8", "--seed", "4", "--out", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    with uproot.open(out) as file:
        arrays = file["events"].arrays(["source_event", "copy_index"], library="np")
    assert (arrays["copy_index"] == 0).all()
    assert len(np.unique(arrays["source_event"])) == 8
    assert read_generation_record(out)["resmear"] == 1
