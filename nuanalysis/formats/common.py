"""What the NanoAOD and PHYSLITE event builders share: the channel's selection and the records.

A builder picks leptons, jets (with a b-tag decision) and the MET from an
experiment's collections; :func:`select_channel` keeps the events of one tt̄
channel and :func:`event_records` zips them into the records
:func:`nuanalysis.columnar.reconstruct` takes (the layout of
:func:`nuanalysis.io.read_events`). Both work on awkward and dask-awkward arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from nuanalysis.errors import ChannelError
from nuanalysis.padded import CHANNELS, N_LEPTONS, N_NEUTRINOS


def array_library(array):
    """``awkward`` or ``dask_awkward``, whichever ``array`` belongs to."""
    if type(array).__module__.startswith("dask_awkward"):
        import dask_awkward

        return dask_awkward
    return ak


@dataclass(frozen=True)
class ChannelSelection:
    """The tt̄ channel's event selection on the selected objects.

    Semileptonic: exactly one lepton, at least ``min_jets`` jets (default 4);
    dilepton: exactly two leptons of opposite charge, at least 2 jets. Both: at
    least ``min_btags`` b-tagged jets (default 1).
    """

    channel: str
    min_jets: int | None = None
    min_btags: int = 1

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ChannelError(f"unknown channel {self.channel!r}; choose one of {CHANNELS}")

    @property
    def jets_needed(self) -> int:
        default = 4 if self.channel == "semileptonic" else 2
        return default if self.min_jets is None else self.min_jets


@dataclass
class Objects:
    """One chunk's selected objects, GeV: lepton and jet records and the MET."""

    leptons: ak.Array  # pt, eta, phi, mass, charge, pid (unsigned), pT-ordered
    jets: ak.Array  # pt, eta, phi, mass, btag (bool), pT-ordered
    met_pt: ak.Array
    met_phi: ak.Array
    weight: ak.Array
    truth_neutrinos: ak.Array | None = None  # pt, eta, phi, pid: hard-process ν of W decays


def select_channel(objects: Objects, selection: ChannelSelection):
    """Mask of the events passing the channel's selection (:class:`ChannelSelection`)."""
    lib = array_library(objects.jets)
    n_lep = lib.num(objects.leptons.pt, axis=1)
    mask = n_lep == N_LEPTONS[selection.channel]
    if selection.channel == "dilepton":
        charge = lib.sum(objects.leptons.charge, axis=1)
        mask = mask & (charge == 0)
    mask = mask & (lib.num(objects.jets.pt, axis=1) >= selection.jets_needed)
    return mask & (lib.sum(objects.jets.btag, axis=1) >= selection.min_btags)


def event_records(objects: Objects, channel: str):
    """Event records (``jets``, ``leptons``, ``met``, ``weight`` [, ``truth.neutrinos``])."""
    lib = array_library(objects.jets)
    fields = ("pt", "eta", "phi", "mass")
    record = {
        "jets": lib.zip({f: objects.jets[f] for f in (*fields, "btag")}, with_name="Momentum4D"),
        "leptons": lib.zip(
            {f: objects.leptons[f] for f in (*fields, "charge", "pid")}, with_name="Momentum4D"
        ),
        "met": lib.zip({"pt": objects.met_pt, "phi": objects.met_phi}, with_name="Momentum2D"),
        "weight": objects.weight,
    }
    if objects.truth_neutrinos is not None:
        nu = objects.truth_neutrinos
        # ν (from W⁺, pid > 0) before ν̄, as the schema orders them
        nu = nu[lib.argsort(nu.pid < 0, axis=1, stable=True)]
        neutrinos = {f: nu[f] for f in ("pt", "eta", "phi")}
        neutrinos["mass"] = nu.pt * 0.0
        neutrinos["pid"] = nu.pid
        record["truth"] = lib.zip(
            {"neutrinos": lib.zip(neutrinos, with_name="Momentum4D")}, depth_limit=1
        )
    return lib.zip(record, depth_limit=1)


def has_channel_truth(neutrinos: ak.Array, channel: str) -> bool:
    """Whether every selected event has the channel's number of truth neutrinos (eager only)."""
    return bool(np.all(ak.to_numpy(ak.num(neutrinos.pt, axis=1)) == N_NEUTRINOS[channel]))


def pt_ordered(objects):
    """``objects`` sorted by descending pT within each event."""
    lib = array_library(objects)
    return objects[lib.argsort(objects.pt, axis=1, ascending=False, stable=True)]


def select_events(objects: Objects, channel: ChannelSelection | str, where: str = "NanoAOD"):
    """Event records of the events passing ``channel``'s selection; eager input that
    selects nothing is refused with the lepton multiplicities it has."""
    selection = channel if isinstance(channel, ChannelSelection) else ChannelSelection(channel)
    mask = select_channel(objects, selection)
    lib = array_library(objects.jets)
    if lib is ak and not ak.any(mask):
        counts = np.bincount(ak.to_numpy(ak.num(objects.leptons.pt, axis=1)))
        found = ", ".join(f"{n} with {k}" for k, n in enumerate(counts) if n)
        raise ChannelError(
            f"{where}: none of the {len(mask)} events passes the {selection.channel} selection "
            f"(events by number of selected leptons: {found or 'none'})"
        )
    truth = objects.truth_neutrinos
    selected = Objects(
        *(getattr(objects, f)[mask] for f in ("leptons", "jets", "met_pt", "met_phi", "weight")),
        None if truth is None else truth[mask],
    )
    if (
        lib is ak
        and truth is not None
        and not has_channel_truth(selected.truth_neutrinos, selection.channel)
    ):
        selected.truth_neutrinos = None
    return event_records(selected, selection.channel)


def read_objects(path, tree: str, schema, entry_stop: int | None, build, cuts):
    """``build(events, cuts)`` on one file's ``tree`` read eagerly by coffea NanoEvents with
    ``schema`` (a NanoAOD or PHYSLITE builder's :class:`Objects`)."""
    from coffea.nanoevents import NanoEventsFactory

    events = NanoEventsFactory.from_root(
        {str(path): tree}, schemaclass=schema, mode="eager", entry_stop=entry_stop
    ).events()
    return build(events, cuts)
