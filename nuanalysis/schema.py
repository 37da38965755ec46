"""The ntuple schema v1 (docs/schema.md, for users) as data.

One TTree named :data:`TREE_NAME` per file, GeV and radians. Branches come in
three shapes:

- ``jagged``: one value per object of a collection (``jet_*``, ``lep_*``,
  ``truth_nu_*``). All branches of a collection share one counter branch
  ``n<collection>`` (``njet``, ``nlep``, ``ntruth_nu``), which is what uproot
  writes when a collection is extended as one awkward record array.
- ``fixed``: a fixed-size array per event (``truth_parton_*``, size 6).
- ``flat``: one value per event (``met``, ``weight``, ``truth_top_*``, …).

:mod:`nuanalysis.io` writes and reads files from this table, and error
messages quote it, so the table is the single place the schema is written down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuanalysis.padded import N_PARTONS

SCHEMA_VERSION = 1
TREE_NAME = "events"
TREE_TITLE = f"nuanalysis ntuple schema v{SCHEMA_VERSION}"


@dataclass(frozen=True)
class Branch:
    """One schema branch.

    ``collection`` is the counter group of a jagged branch (``jet`` → ``njet``)
    or the prefix of a fixed/flat group; ``scaled`` marks energies and momenta,
    multiplied by a mapping's unit scale (MeV → GeV), unlike η, φ, charge, pid
    and b-tag; ``required`` branches must be present in every input file.
    """

    name: str
    dtype: np.dtype
    shape: str  # "jagged", "fixed" or "flat"
    level: str  # "reco" or "truth"
    collection: str
    scaled: bool
    required: bool
    doc: str


F4, I1, BOOL = np.dtype(np.float32), np.dtype(np.int8), np.dtype(np.bool_)


def _group(collection, shape, level, required, fields, doc):
    return [
        Branch(f"{collection}_{name}", dtype, shape, level, collection, scaled, required, doc)
        for name, dtype, scaled in fields
    ]


_P4 = [("pt", F4, True), ("eta", F4, False), ("phi", F4, False), ("mass", F4, True)]

BRANCHES: tuple[Branch, ...] = tuple(
    _group("jet", "jagged", "reco", True, [*_P4, ("btag", BOOL, False)], "reconstructed jets")
    + _group("jet", "jagged", "reco", False, [("match", I1, False)], "matched parton, -1 if none")
    + _group(
        "lep",
        "jagged",
        "reco",
        True,
        [*_P4, ("charge", I1, False), ("pid", I1, False)],
        "selected electrons and muons (pid 11 or 13, unsigned)",
    )
    + [
        Branch("met", F4, "flat", "reco", "", True, True, "missing transverse momentum"),
        Branch("met_phi", F4, "flat", "reco", "", False, True, "direction of the MET"),
        Branch("weight", F4, "flat", "reco", "", False, False, "event weight (1 if absent)"),
    ]
    + _group(
        "truth_nu",
        "jagged",
        "truth",
        False,
        [("pt", F4, True), ("eta", F4, False), ("phi", F4, False), ("pid", I1, False)],
        "neutrinos: ν from W⁺ first, ν̄ from W⁻ second",
    )
    + _group(
        "truth_parton",
        "fixed",
        "truth",
        False,
        [*_P4, ("pid", I1, False)],
        "b, b̄, W⁺ daughters, W⁻ daughters (fermion first)",
    )
    + _group("truth_top", "flat", "truth", False, _P4, "top quark before decay")
    + _group("truth_antitop", "flat", "truth", False, _P4, "antitop quark before decay")
)

BY_NAME: dict[str, Branch] = {b.name: b for b in BRANCHES}
REQUIRED: tuple[str, ...] = tuple(b.name for b in BRANCHES if b.required)
JAGGED_COLLECTIONS: tuple[str, ...] = ("jet", "lep", "truth_nu")
FLOAT_BRANCHES: tuple[str, ...] = tuple(b.name for b in BRANCHES if b.dtype == F4)


def counter_name(collection: str) -> str:
    """Counter branch of a jagged collection: ``n<collection>``, made a valid C++ identifier.

    ROOT parses the counter inside leaf titles such as ``x_px[nx]``, so characters
    like ``-`` (method names such as ``flow-sample``) become ``_``.
    """
    return "n" + "".join(c if c.isalnum() or c == "_" else "_" for c in collection)


def describe() -> str:
    """Human-readable table of the schema, for error messages and ``--help`` texts."""
    lines = []
    for b in BRANCHES:
        kind = {"jagged": "[]", "fixed": f"[{N_PARTONS}]", "flat": ""}[b.shape]
        need = "required" if b.required else "optional"
        lines.append(f"  {b.name:<22} {b.dtype.name}{kind:<4} {b.level:<5} {need:<8} {b.doc}")
    return "\n".join(lines)
