"""Pythia 8 set-up for pp → tt̄ at 13 TeV and the flat view of its event records.

Shower, multiparton interactions and hadronisation stay at their Pythia
defaults (all on). The W decays are forced per channel:

* ``dilepton`` — both W → eν or μν (``24:onIfAny = 11 13``, no τ);
* ``semileptonic`` — one W → eν/μν, the other → quarks. Pythia switches W⁺ and
  W⁻ channels separately (``onPosIfAny`` / ``onNegIfAny``), so a semileptonic
  job runs two generators, one with a leptonic W⁺ and one with a leptonic W⁻,
  and alternates batches between them: both charge assignments are equally
  likely by construction.

Events come from ``Pythia.nextBatch`` as awkward arrays;
:func:`flatten_batch` turns them into flat numpy columns plus event offsets,
the input of the numba kernels in :mod:`.truth` and :mod:`.detector`.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from nuanalysis.errors import InputError

LEPTONIC_W_SIDES = {"dilepton": ("both",), "semileptonic": ("plus", "minus")}
"""Generator configurations per channel: which W decays leptonically."""

_W_DECAY_SETTINGS = {
    "both": ["24:onMode = off", "24:onIfAny = 11 13"],
    "plus": ["24:onMode = off", "24:onPosIfAny = 11 13", "24:onNegIfAny = 1 2 3 4 5"],
    "minus": ["24:onMode = off", "24:onNegIfAny = 11 13", "24:onPosIfAny = 1 2 3 4 5"],
}

PYTHIA_MAX_SEED = 900_000_000
"""Largest value of ``Random:seed``."""


def pythia_settings(leptonic_w: str, seed: int, top_mass: float) -> list[str]:
    """The ``readString`` lines of one generator."""
    if leptonic_w not in _W_DECAY_SETTINGS:
        raise ValueError(
            f"leptonic_w must be one of {sorted(_W_DECAY_SETTINGS)}, not {leptonic_w!r}"
        )
    if not 1 <= seed <= PYTHIA_MAX_SEED:
        raise InputError(f"Pythia seed must be in 1..{PYTHIA_MAX_SEED}, got {seed}")
    return [
        "Beams:eCM = 13000.",
        "Top:gg2ttbar = on",
        "Top:qqbar2ttbar = on",
        f"6:m0 = {top_mass}",
        *_W_DECAY_SETTINGS[leptonic_w],
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Print:quiet = on",
        "Next:numberCount = 0",
    ]


def make_pythia(leptonic_w: str, seed: int, top_mass: float):
    """An initialised, silent ``pythia8mc.Pythia`` for one W-decay configuration."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(leptonic_w, seed, top_mass):
        if not pythia.readString(line):
            raise InputError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise InputError(f"Pythia failed to initialise with top mass {top_mass} GeV")
    return pythia


@dataclass
class FlatEvents:
    """Flat numpy columns of a batch of Pythia event records.

    Particle ``offsets[k] + i`` is entry ``i`` of event ``k``'s record, so the
    mother/daughter indices of Pythia (record positions) stay valid per event.
    """

    offsets: np.ndarray  # (n + 1,) int64
    pid: np.ndarray  # int32
    status: np.ndarray  # int32
    daughter1: np.ndarray  # int32
    daughter2: np.ndarray  # int32
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def event_index(self) -> np.ndarray:
        """Event number of every particle."""
        return np.repeat(np.arange(len(self)), np.diff(self.offsets))


def flatten_batch(batch: ak.Array) -> FlatEvents:
    """Flat columns of ``Pythia.nextBatch(...).prt``."""
    particles = batch.prt
    counts = ak.to_numpy(ak.num(particles)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    flat = ak.flatten(particles)
    momentum = flat.p

    def column(array, dtype):
        return np.ascontiguousarray(ak.to_numpy(array), dtype=dtype)

    return FlatEvents(
        offsets=offsets,
        pid=column(flat.id, np.int32),
        status=column(flat.status, np.int32),
        daughter1=column(flat.daughter1, np.int32),
        daughter2=column(flat.daughter2, np.int32),
        px=column(momentum.px, np.float64),
        py=column(momentum.py, np.float64),
        pz=column(momentum.pz, np.float64),
        e=column(momentum.e, np.float64),
    )


def next_batch(pythia, n_events: int) -> FlatEvents:
    """Generate ``n_events`` events (failed ones are skipped by Pythia) as flat columns."""
    return flatten_batch(pythia.nextBatch(n_events, "skip"))
