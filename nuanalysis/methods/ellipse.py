"""Registry adapter of the Betchart ellipse method (``ellipse``; arXiv:1305.1878).

Dilepton events (§4 of the paper): the two b candidates are those of
:func:`~nuanalysis.candidates.b_jet_candidates`; both b ↔ lepton
pairings are solved and, of all their solutions, the one with the smallest
m_tt is returned. Events without a real intersection are not ``valid``.

Semileptonic events (§3): the ν is the point of its ellipse closest to the MET
under the MET covariance; every b-tagged jet is tried as b_lep (the two b
candidates where fewer than one jet is tagged) and the smallest χ² wins,
preferring jets whose ellipse exists (Z² ≥ 0).

Options (defaults: the reference configurations, docs/methods.md, "Baselines as analysts
configure them"):

* ``top_mass`` (:data:`~baselines.constants.TOP_MASS`) and ``w_mass``
  (:data:`~baselines.constants.W_MASS_NW`): a number, one value per event, or
  for dilepton events (n, 2) values for (t → b ℓ⁺ ν, t̄ → b̄ ℓ⁻ ν̄);
* ``b_mass`` (:data:`~baselines.constants.B_MASS`): the mass given to the b
  jets (their momentum kept); ``None`` keeps each jet's measured mass;
* ``closest_approach`` (dilepton, False): without an intersection, fall back
  to the least-squares closest approach |ν⊥ + ν̄⊥ − MET|² like the reference
  (flagged in ``extras["closest_approach"]``, counted valid);
* ``met_resolution`` (semileptonic, 10 GeV): σ of each MET component, or an
  (n, 2, 2) covariance matrix in GeV². With an isotropic σ the χ² ranking
  does not depend on its value.

Extras — dilepton: ``n_solutions`` (n, 2) per pairing, ``pairing`` (n,) (0:
the leading candidate with ℓ⁺, 1: swapped, −1: none), ``b_jet_index`` (n, 2)
the jets paired with ℓ⁺ and ℓ⁻. Semileptonic: ``b_jet_index`` (n,), ``chi2``,
``clamped`` (the chosen ellipse had Z² < 0 and was clamped to a point).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from baselines.constants import B_MASS, TOP_MASS, W_MASS_NW
from baselines.ellipse import dilepton_neutrinos, single_neutrino
from nuanalysis.candidates import b_jet_candidate_indices
from nuanalysis.errors import OptionError
from nuanalysis.methods.option_types import BMass, OnlyFor, Resolution, TopMasses, WMasses
from nuanalysis.methods.spec import register
from nuanalysis.neutrino_result import NeutrinoResult
from nuanalysis.padded import CHANNELS, PaddedEvents


def _per_event_masses(value, n: int, columns: int, name: str) -> np.ndarray:
    """(n, columns) float64 masses from a number, (n,) or (n, columns) values."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    try:
        array = np.broadcast_to(array, (n, columns)).copy()
    except ValueError:
        raise OptionError(
            f"{name} must be a number, {n} values or ({n}, {columns}) values; "
            f"got shape {np.shape(value)}"
        ) from None
    if not np.all(np.isfinite(array) & (array > 0)):
        raise OptionError(f"{name} must be positive and finite")
    return array


def _with_mass(jets: np.ndarray, mass: float | None) -> np.ndarray:
    """Jets with their energy recomputed for ``mass`` (momentum kept); unchanged for None."""
    if mass is None:
        return jets
    if not (np.isfinite(mass) and mass >= 0):
        raise OptionError(f"b_mass must be a non-negative number or None, got {mass!r}")
    out = jets.copy()
    out[..., 3] = np.sqrt(np.sum(jets[..., :3] ** 2, axis=-1) + mass**2)
    return out


def _met_inverse_covariance(met_resolution, n: int) -> np.ndarray:
    covariance = np.asarray(met_resolution, dtype=np.float64)
    if covariance.ndim == 0:
        if not (np.isfinite(covariance) and covariance > 0):
            raise OptionError("met_resolution must be a positive number of GeV")
        covariance = np.broadcast_to(np.eye(2) * covariance**2, (n, 2, 2))
    if covariance.shape != (n, 2, 2):
        raise OptionError(f"met_resolution must be a number or ({n}, 2, 2) covariances")
    determinant = np.linalg.det(covariance)
    if not np.all(np.isfinite(determinant) & (determinant > 0)):
        raise OptionError("every MET covariance must be positive definite")
    return np.ascontiguousarray(np.linalg.inv(covariance))


@register(
    "ellipse",
    channels=CHANNELS,
    description="Betchart et al. analytic ν ellipses (arXiv:1305.1878): 2ν intersection / 1ν χ²",
    label="Ellipse",
    color="tab:cyan",
)
def ellipse_method(
    events: PaddedEvents,
    top_mass: TopMasses = TOP_MASS,
    w_mass: WMasses = W_MASS_NW,
    b_mass: BMass | None = B_MASS,
    closest_approach: Annotated[bool, OnlyFor("dilepton")] = False,
    met_resolution: Annotated[Resolution | np.ndarray, OnlyFor("semileptonic")] = 10.0,
) -> NeutrinoResult:
    n = len(events)
    columns = 2 if events.channel == "dilepton" else 1
    top_masses = _per_event_masses(top_mass, n, columns, "top_mass")
    w_masses = _per_event_masses(w_mass, n, columns, "w_mass")
    jets = _with_mass(events.jets, b_mass)
    index = b_jet_candidate_indices(events)
    if events.channel == "dilepton":
        b_jets = np.take_along_axis(jets, np.maximum(index, 0)[:, :, None], axis=1)
        momenta, valid, pairing, n_solutions, _, closest = dilepton_neutrinos(
            np.ascontiguousarray(b_jets),
            np.ascontiguousarray(events.lepton_pos),
            np.ascontiguousarray(events.lepton_neg),
            np.ascontiguousarray(events.met),
            top_masses,
            w_masses,
            (index >= 0).all(axis=1),
            bool(closest_approach),
        )
        paired = np.where(pairing[:, None] == 1, index[:, ::-1], index)
        extras = {
            "n_solutions": n_solutions,
            "pairing": pairing,
            "b_jet_index": np.where(valid[:, None], paired, -1),
        }
        if closest_approach:
            extras["closest_approach"] = closest
        return NeutrinoResult(momenta, valid, extras=extras)

    tagged = events.jet_mask & events.jet_btag
    fallback = np.zeros_like(tagged)
    rows, columns = np.nonzero(index >= 0)
    fallback[rows, index[rows, columns]] = True
    candidate = np.where(tagged.any(axis=1)[:, None], tagged, fallback)
    momenta, valid, jet_index, chi2, clamped = single_neutrino(
        np.ascontiguousarray(jets),
        candidate,
        np.ascontiguousarray(events.leptons[:, 0]),
        np.ascontiguousarray(events.met),
        _met_inverse_covariance(met_resolution, n),
        top_masses[:, 0],
        w_masses[:, 0],
    )
    extras = {"b_jet_index": jet_index, "chi2": np.where(valid, chi2, 0.0), "clamped": clamped}
    return NeutrinoResult(momenta[:, None, :], valid, extras=extras)
