"""Registry adapter of Neutrino Weighting (``nw``, dilepton; :mod:`baselines.neutrino_weighting`).

The two b candidates are those of
:func:`~nuanalysis.candidates.b_jet_candidates`; both b ↔ lepton
pairings are tried. Options:

* ``preset``: ``"analysis"`` (default: η grid −5 … 5 by 0.2, m_t scan
  172.0 … 174.0 by 0.25 for each top, 50 smearings of the b-jets' pT by 15 %,
  σ = 20 % of each MET component — what analysts run) or ``"grid"`` (one m_t,
  no smearing, σ = 10 GeV: fast, fails more often). The ATLAS NeutrinoWeighter
  solves about 4 % more events than ``analysis`` by drawing 50 smearings per
  m_t pair (4050 per event; ``n_smearings=4050`` here): mostly wrong-jet fits,
  see "Against the ATLAS NeutrinoWeighter" in :mod:`baselines.neutrino_weighting`;
* any field of :class:`~baselines.neutrino_weighting.NeutrinoWeightingConfig`
  overrides the preset (``n_smearings=10``, ``eta_sampling="gaussian"``,
  ``b_mass=None`` for the jet masses, ``smearing_seed``, …);
* ``top_mass``: the central m_t (default :data:`~baselines.constants.TOP_MASS`):
  a number, one value per event or (n, 2) per (t, t̄); the preset's offsets are
  scanned around it. ``w_mass``: None (the preset's 80.4), a number, (n,) or (n, 2);
* ``first_event_index``: global index of the first event, so the per-event
  smearing (seeded by event index) does not depend on how a file is chunked;
* ``seed``: the base seed of the smearings and Gaussian η draws (``--seed``;
  an explicit ``smearing_seed`` option wins);
* ``eta_values``: explicit trial η instead of the preset's sampling: a list
  of k values for both neutrinos of every event, or (n, 2, k) per event and
  neutrino.

``weight`` is the best NW weight. Extras: ``pairing`` (n,) (0: leading
candidate with ℓ⁺, 1: swapped, −1: none), ``b_jet_index`` (n, 2) the jets
paired with ℓ⁺ and ℓ⁻, ``eta`` (n, 2) and ``top_mass`` (n, 2) chosen for
(ν, ν̄) / (t, t̄), ``smearing`` (n,) the winning smearing (0: unsmeared).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from baselines.constants import TOP_MASS
from baselines.neutrino_weighting import PRESETS, NeutrinoWeightingConfig, neutrino_weighting
from baselines.neutrino_weighting import preset as nw_preset
from nuanalysis.candidates import b_jet_candidate_indices
from nuanalysis.errors import OptionError
from nuanalysis.methods.option_types import OneOf, TopMasses, WMasses
from nuanalysis.methods.spec import register
from nuanalysis.neutrino_result import NeutrinoResult
from nuanalysis.padded import PaddedEvents


def _with_mass(jets: np.ndarray, mass: float | None) -> np.ndarray:
    """Jets with their energy recomputed for ``mass`` (momentum kept); unchanged for None."""
    if mass is None:
        return jets
    out = jets.copy()
    out[..., 3] = np.sqrt(np.sum(jets[..., :3] ** 2, axis=-1) + mass**2)
    return out


def _trial_etas(eta_values, n: int) -> np.ndarray | None:
    """(n, 2, k) trial η from one list for every event and neutrino, or per event; None: None."""
    if eta_values is None:
        return None
    etas = np.asarray(eta_values, dtype=np.float64)
    if etas.ndim == 1:
        etas = np.broadcast_to(etas, (n, 2, etas.size))
    if etas.ndim != 3 or etas.shape[:2] != (n, 2) or etas.size == 0 or not np.isfinite(etas).all():
        raise OptionError(
            f"eta_values must be a list of finite numbers or ({n}, 2, k) of them; "
            f"got shape {np.shape(eta_values)}"
        )
    return etas


@register(
    "nw",
    channels=("dilepton",),
    description="Neutrino Weighting (AnalysisTop/NeutrinoWeighter): η scan, m_t scan, b smearing",
    label="Neutrino Weighting",
    color="tab:purple",
    config=NeutrinoWeightingConfig,
    weighted=True,
)
def neutrino_weighting_method(
    events: PaddedEvents,
    preset: Annotated[str, OneOf(tuple(PRESETS))] = "analysis",
    top_mass: TopMasses = TOP_MASS,
    w_mass: WMasses | None = None,
    first_event_index: int = 0,
    eta_values: tuple[float, ...] | np.ndarray | None = None,
    seed: int | None = None,
    **config_options,
) -> NeutrinoResult:
    if seed is not None:
        config_options.setdefault("smearing_seed", int(seed))
    try:
        config = nw_preset(preset, **config_options)
    except TypeError as error:
        raise OptionError(f"unknown Neutrino Weighting option: {error}") from None
    except ValueError as error:
        raise OptionError(str(error)) from None
    if int(first_event_index) < 0:
        raise OptionError("first_event_index must be non-negative")
    index = b_jet_candidate_indices(events)
    jets = _with_mass(events.jets, config.b_mass)
    b_jets = np.take_along_axis(jets, np.maximum(index, 0)[:, :, None], axis=1)
    out = neutrino_weighting(
        b_jets,
        events.lepton_pos,
        events.lepton_neg,
        events.met,
        (index >= 0).all(axis=1),
        config,
        top_mass=top_mass,
        w_mass=w_mass,
        first_event_index=int(first_event_index),
        eta_values=_trial_etas(eta_values, len(events)),
    )
    valid, pairing = out["valid"], out["pairing"]
    paired = np.where(pairing[:, None] == 1, index[:, ::-1], index)
    extras = {
        "pairing": pairing,
        "b_jet_index": np.where(valid[:, None], paired, -1),
        "eta": out["eta"],
        "top_mass": out["top_mass"],
        "smearing": out["smearing"],
    }
    return NeutrinoResult(out["momenta"], valid, weight=out["weight"], extras=extras)
