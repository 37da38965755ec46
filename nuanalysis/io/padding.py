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


def _columns_of(events: ak.Array) -> Columns:
    """Schema-named columns of awkward events (the records :func:`read_events` builds)."""
    columns = {f"met{suffix}": events.met[field] for suffix, field in (("", "pt"), ("_phi", "phi"))}
    columns["weight"] = events.weight
    sources = {"jet": events.jets, "lep": events.leptons}
    truth = events.truth if "truth" in events.fields else None
    for record, prefix in (
        ("neutrinos", "truth_nu"),
        ("partons", "truth_parton"),
        ("top", "truth_top"),
        ("antitop", "truth_antitop"),
    ):
        if truth is not None and record in truth.fields:
            sources[prefix] = truth[record]
    for prefix, objects in sources.items():
        for spec in schema.BRANCHES:
            field = spec.name[len(prefix) + 1 :]
            if spec.collection == prefix and field in objects.fields:
                columns[spec.name] = objects[field]
    return columns


def to_padded(events: ak.Array, channel: str | None = None) -> PaddedEvents:
    """Check awkward events like the reader does, then pad them (:func:`pad_columns`).

    For files, :func:`nuanalysis.io.iterate_padded` reads, checks and pads each
    entry once; this is for events read with :func:`~nuanalysis.io.read_events`
    and changed, or built in memory.
    """
    columns = _columns_of(events)
    if len(events):
        labels = {name: repr(name) for name in columns}
        for name, values in columns.items():
            check_exact(values, schema.BY_NAME[name], labels[name], "events", 0, scores=False)
        channel = check_columns(columns, labels, "events", 0, channel)
    elif channel is None:
        raise InputError("no events: give the channel to pad an empty selection")
    return pad_columns(columns, channel)
