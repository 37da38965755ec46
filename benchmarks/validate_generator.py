"""Physics validation of a sample written by ``nuanalysis generate``.

Prints, for one schema-v1 file (channel from the lepton multiplicity):

* truth m(ℓν) of every leptonic W: median and width68 (≈ m_W = 80.4, Γ_W ≈ 2.1);
* truth m(bℓν) of every leptonic top: median (≈ the generated m_t);
* the top minus the sum of its three decay partons (shower recoil check);
* MET − Σ truth ν (x and y components): median and width68;
* b-tagging efficiency of b, c and light jets. The schema has no flavour
  branch, so jets take the flavour of the quark parton they are matched to
  (``jet_match``: parton 0/1 → b, W daughter with |pid| 4 → c, else light);
  unmatched jets are not counted;
* semileptonic: the fraction of events whose four quark partons are each
  matched to a (distinct, the matching is one-to-one) jet; both channels: the
  fraction with a jet within ΔR < 0.4 of two quark partons (the events the
  ν-Flows paper removes; we keep them);
* with ``--generate N``: runs the generator on N events of the same channel in
  one process: selection efficiency, generated and selected events/s/core, and
  the b-tagging efficiency of all stored jets before selection by their hadron
  flavour label (the detector's working point, free of selection bias).

width68 is half the 16–84 % interquantile range (docs/figures.md). Usage::

    python benchmarks/validate_generator.py FILE [--generate 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import awkward as ak
import numpy as np
import uproot

from baselines.constants import TOP_MASS
from nuanalysis.kinematics import from_pt_eta_phi_m, mass
from nuanalysis.statistics import width68

LEPTONS = (11, 13)


def summary(values: np.ndarray) -> dict[str, float]:
    """Median and width68 of a distribution."""
    values = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(values)), "width68": width68(values), "n": len(values)}


def parton_momenta(tree: dict) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6, 4) Cartesian parton momenta and their (n, 6) pids."""
    p = from_pt_eta_phi_m(
        *(ak.to_numpy(tree[f"truth_parton_{q}"]) for q in ("pt", "eta", "phi", "mass"))
    )
    return p, ak.to_numpy(tree["truth_parton_pid"]).astype(np.int64)


def leptonic_masses(partons: np.ndarray, pid: np.ndarray) -> dict[str, np.ndarray]:
    """m(ℓν) and m(bℓν) of every leptonic W / top (W⁺ uses partons 0, 2, 3; W⁻ 1, 4, 5)."""
    m_lnu, m_blnu = [], []
    for b, lep, nu in ((0, 2, 3), (1, 4, 5)):
        leptonic = np.isin(np.abs(pid[:, lep]), LEPTONS)
        w = partons[leptonic, lep] + partons[leptonic, nu]
        m_lnu.append(mass(w))
        m_blnu.append(mass(w + partons[leptonic, b]))
    return {"mlnu": np.concatenate(m_lnu), "mblnu": np.concatenate(m_blnu)}


def top_closure(tree: dict, partons: np.ndarray) -> np.ndarray:
    """m(t) − m(sum of its decay partons), for t and t̄."""
    differences = []
    for name, (b, f1, f2) in (("top", (0, 2, 3)), ("antitop", (1, 4, 5))):
        top = from_pt_eta_phi_m(
            *(ak.to_numpy(tree[f"truth_{name}_{q}"]) for q in ("pt", "eta", "phi", "mass"))
        )
        differences.append(mass(top) - mass(partons[:, b] + partons[:, f1] + partons[:, f2]))
    return np.concatenate(differences)


def met_residuals(tree: dict) -> dict[str, np.ndarray]:
    """MET − Σ truth neutrinos, per component."""
    nu_pt, nu_phi = tree["truth_nu_pt"], tree["truth_nu_phi"]
    sum_x = ak.to_numpy(ak.sum(nu_pt * np.cos(nu_phi), axis=1))
    sum_y = ak.to_numpy(ak.sum(nu_pt * np.sin(nu_phi), axis=1))
    met, met_phi = ak.to_numpy(tree["met"]), ak.to_numpy(tree["met_phi"])
    return {"x": met * np.cos(met_phi) - sum_x, "y": met * np.sin(met_phi) - sum_y}


def matched_flavour(jet_match: ak.Array, pid: np.ndarray) -> np.ndarray:
    """Flat 5 / 4 / 0 from the matched parton's |pid|; -1 for unmatched jets."""
    match = ak.to_numpy(ak.flatten(jet_match)).astype(np.int64)
    event = np.repeat(np.arange(len(pid)), ak.to_numpy(ak.num(jet_match)))
    parton_pid = np.abs(pid[event, np.maximum(match, 0)])
    flavour = np.select([parton_pid == 5, parton_pid == 4], [5, 4], 0)
    return np.where(match >= 0, flavour, -1)


def btag_efficiencies(tree: dict, pid: np.ndarray) -> dict[str, dict[str, float]]:
    flavour = matched_flavour(tree["jet_match"], pid)
    tagged = ak.to_numpy(ak.flatten(tree["jet_btag"]))
    result = {}
    for name, code in (("b", 5), ("c", 4), ("light", 0)):
        jets = flavour == code
        result[name] = {
            "efficiency": float(tagged[jets].mean()) if jets.any() else float("nan"),
            "n_jets": int(jets.sum()),
        }
    return result


def ambiguous_fraction(tree: dict, pid: np.ndarray) -> float:
    """Fraction of events with a jet within ΔR < 0.4 of two or more quark partons."""
    is_quark = (np.abs(pid) >= 1) & (np.abs(pid) <= 5)
    jet_eta, jet_phi = tree["jet_eta"], tree["jet_phi"]
    close = ak.zeros_like(jet_eta, dtype=np.int64)
    for p in range(6):
        deta = jet_eta - ak.to_numpy(tree["truth_parton_eta"])[:, p]
        dphi = (jet_phi - ak.to_numpy(tree["truth_parton_phi"])[:, p] + np.pi) % (2 * np.pi) - np.pi
        close = close + ((np.hypot(deta, dphi) < 0.4) & is_quark[:, p])
    return float(ak.mean(ak.any(close >= 2, axis=1)))


def fully_matched_fraction(tree: dict, pid: np.ndarray) -> float:
    """Fraction of events whose quark partons are all matched to jets."""
    n_quarks = ((np.abs(pid) >= 1) & (np.abs(pid) <= 5)).sum(axis=1)
    n_matched = ak.to_numpy(ak.sum(tree["jet_match"] >= 0, axis=1))
    return float(np.mean(n_matched == n_quarks))


def generator_run(channel: str, n_generated: int, seed: int) -> dict:
    """Run the whole chain on ``n_generated`` events in this process (one core).

    Reports the selection efficiency, the selected events per second, and the
    b-tagging efficiency of all stored jets (before any selection) by their
    hadron flavour label — the detector's working point itself.
    """
    from nuanalysis.generation.detector import ATLAS_LIKE
    from nuanalysis.generation.pythia import LEPTONIC_W_SIDES, make_pythia, next_batch
    from nuanalysis.generation.reconstruction import reconstruct
    from nuanalysis.generation.runner import BATCH_SIZE, schema_columns
    from nuanalysis.generation.selection import passes_selection
    from nuanalysis.generation.truth import truth_record

    generators = [
        make_pythia(side, seed + i, TOP_MASS) for i, side in enumerate(LEPTONIC_W_SIDES[channel])
    ]
    rng = np.random.default_rng(seed)
    next_batch(generators[0], 10)  # warm-up: numba caches, FastJet banner
    reconstruct(next_batch(generators[0], 10), rng, ATLAS_LIKE)
    flavours, tags, n_done, n_selected = [], [], 0, 0
    start = time.perf_counter()
    while n_done < n_generated:
        events = next_batch(generators[(n_done // BATCH_SIZE) % len(generators)], BATCH_SIZE)
        n_done += len(events)
        truth = truth_record(events)
        objects = reconstruct(events, rng, ATLAS_LIKE)
        selected = passes_selection(channel, objects) & truth.complete
        schema_columns(truth, objects, selected)
        n_selected += int(selected.sum())
        flavours.append(objects.jet_flavour)
        tags.append(objects.jet_btag)
    seconds = time.perf_counter() - start
    flavour, tagged = np.concatenate(flavours), np.concatenate(tags)
    return {
        "n_generated": n_done,
        "n_selected": n_selected,
        "selection_efficiency": n_selected / n_done,
        "generated_events_per_second_per_core": n_done / seconds,
        "selected_events_per_second_per_core": n_selected / seconds,
        "btag_by_hadron_label": {
            name: {
                "efficiency": float(tagged[flavour == code].mean()),
                "n_jets": int((flavour == code).sum()),
            }
            for name, code in (("b", 5), ("c", 4), ("light", 0))
        },
    }


def validate(path: str, generate_events: int = 0, seed: int = 12345) -> dict:
    tree = uproot.open(path)["events"].arrays(library="ak")
    tree = {name: tree[name] for name in tree.fields}
    n_leptons = np.unique(ak.to_numpy(ak.num(tree["lep_pt"])))
    channel = {1: "semileptonic", 2: "dilepton"}[int(n_leptons[0])]
    partons, pid = parton_momenta(tree)
    masses = leptonic_masses(partons, pid)
    met = met_residuals(tree)
    report = {
        "file": path,
        "channel": channel,
        "n_events": len(tree["met"]),
        "truth_mlnu": summary(masses["mlnu"]),
        "truth_mblnu": summary(masses["mblnu"]),
        "top_minus_decay_products_mass": summary(top_closure(tree, partons)),
        "met_minus_truth_nu": {"x": summary(met["x"]), "y": summary(met["y"])},
        "btag": btag_efficiencies(tree, pid),
        "all_quark_partons_matched_fraction": fully_matched_fraction(tree, pid),
        "ambiguous_jet_fraction": ambiguous_fraction(tree, pid),
        "lepton_charge_mean": float(ak.mean(tree["lep_charge"])),
    }
    if generate_events:
        report["generator"] = generator_run(channel, generate_events, seed)
    return report


def print_report(report: dict) -> None:
    def line(label, s):
        print(
            f"  {label:<34s} median {s['median']:9.3f}   width68 {s['width68']:8.3f}  (n={s['n']})"
        )

    print(f"{report['file']}: {report['channel']}, {report['n_events']} events")
    line("truth m(lν) [GeV]", report["truth_mlnu"])
    line("truth m(blν) [GeV]", report["truth_mblnu"])
    line("m(t) − m(decay partons) [GeV]", report["top_minus_decay_products_mass"])
    line("MET_x − Σν_x [GeV]", report["met_minus_truth_nu"]["x"])
    line("MET_y − Σν_y [GeV]", report["met_minus_truth_nu"]["y"])
    for name, value in report["btag"].items():
        print(
            f"  b-tag efficiency, {name:<6s} jets      {value['efficiency']:.4f}  "
            f"(n={value['n_jets']}, flavour from the matched parton)"
        )
    print(
        f"  all quark partons matched          {report['all_quark_partons_matched_fraction']:.3f}"
    )
    print(f"  events with an ambiguous jet       {report['ambiguous_jet_fraction']:.3f}")
    print(f"  mean lepton charge                 {report['lepton_charge_mean']:+.3f}")
    if "generator" in report:
        g = report["generator"]
        print(
            f"  generator, one process: selection efficiency {g['selection_efficiency']:.3f} "
            f"({g['n_selected']}/{g['n_generated']}); "
            f"{g['generated_events_per_second_per_core']:.1f} generated and "
            f"{g['selected_events_per_second_per_core']:.1f} selected events/s/core"
        )
        for name, value in g["btag_by_hadron_label"].items():
            print(
                f"  b-tag efficiency before selection, hadron-labelled {name:<5s} "
                f"{value['efficiency']:.4f} (n={value['n_jets']})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", help="ntuple written by nuanalysis generate")
    parser.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="also run the generator on N events of the file's channel in one process: "
        "efficiency, speed, b-tag efficiency by hadron label before selection",
    )
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args()
    report = validate(args.file, args.generate)
    print_report(report)
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(report, stream, indent=2)


if __name__ == "__main__":
    main()
