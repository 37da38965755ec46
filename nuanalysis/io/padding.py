"""The one awkward → numpy conversion: checked columns to :class:`~nuanalysis.padded.PaddedEvents`.

:func:`pad_columns` pads the reader's checked columns; :func:`to_padded` does
the same for awkward events built elsewhere, after the same checks.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from nuanalysis import schema
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.io.checks import Columns, check_columns, check_exact
from nuanalysis.kinematics import from_pt_eta_phi_m
from nuanalysis.padded import CHANNELS, MAX_JETS, N_LEPTONS, N_NEUTRINOS, PaddedEvents


def _padded(array: ak.Array, size: int, fill) -> np.ndarray:
    return ak.to_numpy(ak.fill_none(ak.pad_none(array, size, axis=1, clip=True), fill))


def _cartesian(columns: Columns, prefix: str, size: int | None = None) -> np.ndarray:
    """(n, [size,] 4) px, py, pz, E in float64 from a collection's pt/eta/phi/mass; padding 0."""
    values = [columns[f"{prefix}_{f}"] for f in ("pt", "eta", "phi", "mass")]
    if size is None:
        values = [ak.to_numpy(v) for v in values]
    else:
        values = [_padded(v, size, 0.0) for v in values]
    return from_pt_eta_phi_m(*values)


def _truth_neutrinos(columns: Columns, n_nu: int) -> np.ndarray:
    """(n, n_nu, 3) px, py, pz, ordered ν (pid > 0) before ν̄."""
    massless = {**columns, "truth_nu_mass": ak.zeros_like(columns["truth_nu_pt"])}
    p4 = _cartesian(massless, "truth_nu", n_nu)[..., :3]
    pid = _padded(columns["truth_nu_pid"], n_nu, 0)
    order = np.argsort(pid < 0, axis=1, kind="stable")
    return np.take_along_axis(p4, order[:, :, None], axis=1)


def pad_columns(columns: Columns, channel: str) -> PaddedEvents:
    """Fixed-shape Cartesian arrays with masks from checked columns of ``channel`` events.

    Jets are the leading :data:`~nuanalysis.padded.MAX_JETS` (``n_jets`` counts
    all); leptons keep their pT order; truth neutrinos are ordered ν (pid > 0)
    then ν̄, as in the schema.
    """
    if channel not in CHANNELS:
        raise ChannelError(f"unknown channel {channel!r}; choose one of {CHANNELS}")
    n_lep = N_LEPTONS[channel]
    n_jets = ak.to_numpy(ak.num(columns["jet_pt"], axis=1)).astype(np.int64)
    met = ak.to_numpy(columns["met"]).astype(np.float64)
    met_phi = ak.to_numpy(columns["met_phi"]).astype(np.float64)
    weight = columns.get("weight")
    values = {
        "channel": channel,
        "jets": _cartesian(columns, "jet", MAX_JETS),
        "jet_btag": _padded(columns["jet_btag"], MAX_JETS, False).astype(bool),
        "jet_mask": np.arange(MAX_JETS) < np.minimum(n_jets, MAX_JETS)[:, None],
        "jet_match": _padded(columns["jet_match"], MAX_JETS, -1).astype(np.int8)
        if "jet_match" in columns
        else np.full((len(n_jets), MAX_JETS), -1, np.int8),
        "leptons": _cartesian(columns, "lep", n_lep),
        "lep_charge": _padded(columns["lep_charge"], n_lep, 0).astype(np.int8),
        "lep_pid": np.abs(_padded(columns["lep_pid"], n_lep, 0)).astype(np.int8),
        "met": np.stack([met * np.cos(met_phi), met * np.sin(met_phi)], axis=-1),
        "weight": np.ones(len(met)) if weight is None else ak.to_numpy(weight).astype(np.float64),
        "n_jets": n_jets,
    }
    if "truth_nu_pt" in columns:
        values["truth_nu"] = _truth_neutrinos(columns, N_NEUTRINOS[channel])
    if "truth_parton_pt" in columns:
        values["truth_partons"] = _cartesian(columns, "truth_parton")
        values["truth_parton_pid"] = ak.to_numpy(columns["truth_parton_pid"]).astype(np.int8)
    for name in ("top", "antitop"):
        if f"truth_{name}_pt" in columns:
            values[f"truth_{name}"] = _cartesian(columns, f"truth_{name}")
    return PaddedEvents(**values)


_RECORD_FIELDS = {
    "jet": ("jets", ("pt", "eta", "phi", "mass", "btag", "match")),
    "lep": ("leptons", ("pt", "eta", "phi", "mass", "charge", "pid")),
}
_TRUTH_RECORDS = {
    "truth_nu": "neutrinos",
    "truth_parton": "partons",
    "truth_top": "top",
    "truth_antitop": "antitop",
}
_OPTIONAL = {"match", "weight"}


def _field(records: ak.Array, name: str, path: str):
    """``records.name``: a field, or a coordinate vector computes (``pt`` of ``px, py``);
    ``pid`` may be given as ``pdgId`` (signed, as in NanoAOD)."""
    if name == "pid" and "pid" not in records.fields and "pdgId" in records.fields:
        return abs(records.pdgId)
    try:
        return getattr(records, name)
    except AttributeError:
        raise InputError(
            f"events: no field {path} (the records have {', '.join(records.fields) or 'none'})"
        ) from None


def columns_of_records(events: ak.Array) -> tuple[Columns, dict[str, str]]:
    """Schema-named columns of awkward event records, and each column's field path.

    The records are those :func:`~nuanalysis.io.read_events` builds, or any with
    the same fields: ``jets`` (pt, eta, phi, mass, ``btag``), ``leptons`` (pt, eta,
    phi, mass, ``charge``, ``pid`` or ``pdgId``), ``met`` (pt, phi), optionally
    ``weight`` and ``truth``; momenta may be in any coordinates ``vector`` converts.
    Labels (``'jets.pt'``) name the fields in error messages.
    """
    for name in ("jets", "leptons", "met"):
        if name not in events.fields:
            raise InputError(
                f"events: no field {name!r} (the records have {', '.join(events.fields)}); "
                "events need jets, leptons and met"
            )
    columns = {
        "met": _field(events.met, "pt", "met.pt"),
        "met_phi": _field(events.met, "phi", "met.phi"),
    }
    labels = {"met": "'met.pt'", "met_phi": "'met.phi'"}
    if "weight" in events.fields:
        columns["weight"], labels["weight"] = events.weight, "'weight'"
    sources = {
        prefix: (record, events[record], names)
        for prefix, (record, names) in _RECORD_FIELDS.items()
    }
    truth = events.truth if "truth" in events.fields else None
    for prefix, record in _TRUTH_RECORDS.items():
        if truth is not None and record in truth.fields:
            fields = [s.name[len(prefix) + 1 :] for s in schema.BRANCHES if s.collection == prefix]
            sources[prefix] = (f"truth.{record}", truth[record], fields)
    for prefix, (path, objects, names) in sources.items():
        for name in names:
            if name in _OPTIONAL and name not in objects.fields:
                continue
            columns[f"{prefix}_{name}"] = _field(objects, name, f"{path}.{name}")
            labels[f"{prefix}_{name}"] = repr(f"{path}.{name}")
    return columns, labels


def to_padded(
    events: ak.Array, channel: str | None = None, *, where: str = "events", first_entry: int = 0
) -> PaddedEvents:
    """Check awkward event records as the reader checks files, then pad (:func:`pad_columns`).

    For files, :func:`nuanalysis.io.iterate_padded` reads, checks and pads each
    entry once; this is for records read with :func:`~nuanalysis.io.read_events`
    and changed, or built in memory (:func:`columns_of_records`). Errors name
    ``where``, the field and the entry (counted from ``first_entry``).
    """
    columns, labels = columns_of_records(events)
    if len(events):
        for name, values in columns.items():
            check_exact(
                values, schema.BY_NAME[name], labels[name], where, first_entry, scores=False
            )
        channel = check_columns(columns, labels, where, first_entry, channel)
    elif channel is None:
        raise InputError(f"{where}: no events: give the channel to pad an empty selection")
    return pad_columns(columns, channel)
