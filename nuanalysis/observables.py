"""tt̄ observables of dilepton events: m_tt and the top pT, from truth or from a method's neutrinos.

Reco level (docs/figures.md, "Resolution"): the top is ℓ⁺ + b + ν and the
antitop ℓ⁻ + b̄ + ν̄, with the two b-jet candidates of
:func:`nuanalysis.candidates.b_jet_candidates`. Which candidate goes
with ℓ⁺ is the method's own choice when its result says so
(``extras["b_pairing"]`` or ``extras["pairing"]``, see :data:`PAIRING_KEYS`), otherwise the pairing
minimising (m(bℓ⁺ν) − m_t)² + (m(b̄ℓ⁻ν̄) − m_t)² (m_t = TOP_MASS), the χ² of
:func:`nuanalysis.assignment.pair_dilepton` (:func:`top_mass_pairing`). Truth level:
the generator's top and antitop (``truth_top``, ``truth_antitop``).

``m_tt`` is the invariant mass of the pair; ``pT_t`` the transverse momentum
of the top quark (not the antitop).
"""

from __future__ import annotations

import numpy as np

from baselines.constants import TOP_MASS
from nuanalysis.candidates import b_jet_candidates
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.kinematics import mass, massless_from_momentum, pt
from nuanalysis.neutrino_result import NeutrinoResult
from nuanalysis.padded import PaddedEvents
from nuanalysis.posterior import soft_minimum

PAIRING_KEY = "b_pairing"
"""``NeutrinoResult.extras`` key: (n,) int, the b-jet candidate paired with ℓ⁺ (0: the leading
candidate, 1: the other), −1 where the method found none (the event is then invalid)."""

PAIRING_KEYS = (PAIRING_KEY, "pairing")
"""Keys read in this order; ``pairing`` is the name the ellipse method uses (same meaning)."""


def mtt_ptt(top: np.ndarray, antitop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m_tt, pT_t) of ``(n, 4)`` top and antitop four-momenta."""
    return mass(top + antitop), pt(top)


def top_mass_pairing(masses: np.ndarray, top_mass=TOP_MASS) -> np.ndarray:
    """(n,) pairing minimising Σ (m(bℓν) − m_t)² over both tops, from ``masses`` (n, 2, 2)
    indexed [pairing, side]. With one σ for both tops the χ² (m − m_t)²/σ² has the same
    minimum, so σ does not enter."""
    return posterior_pairing(masses[:, None], np.zeros((len(masses), 1)), 1.0, 0.0, top_mass)[0]


def posterior_pairing(
    masses: np.ndarray, penalty: np.ndarray, sigma: float, temperature: float, top_mass=TOP_MASS
) -> tuple[np.ndarray, np.ndarray]:
    """(n,) pairing minimising the soft minimum over draws s (:mod:`nuanalysis.posterior`) of
    Σ_tops (m(bℓν_s) − m_t)²/σ² + penalty_s, and (n,) its best draw; ``masses`` (n, S, 2, 2)
    indexed [draw, pairing, side], ``penalty`` (n, S) the posterior's −2λ Δlog p."""
    chi2 = ((masses - top_mass) ** 2).sum(axis=3) / sigma**2 + penalty[:, :, None]
    pairing = np.argmin(soft_minimum(chi2, temperature, axis=1), axis=1)
    draw = np.argmin(chi2[np.arange(len(pairing)), :, pairing], axis=1)
    return pairing, draw


def pair_tops(
    lepton_pos: np.ndarray,
    lepton_neg: np.ndarray,
    b_candidates: np.ndarray,
    neutrinos: np.ndarray,
    pairing: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top and antitop ``(n, 4)`` and the pairing used.

    ``b_candidates`` is ``(n, 2, 4)``, ``neutrinos`` ``(n, 2, 3)`` (ν, ν̄);
    ``pairing[i]`` is the candidate index given to ℓ⁺ (the other goes to ℓ⁻).
    Without ``pairing``, :func:`top_mass_pairing` chooses.
    """
    nu = massless_from_momentum(neutrinos)
    options = []
    for first in (0, 1):
        top = lepton_pos + b_candidates[:, first] + nu[:, 0]
        antitop = lepton_neg + b_candidates[:, 1 - first] + nu[:, 1]
        options.append((top, antitop))
    if pairing is None:
        masses = np.stack([np.stack([mass(t), mass(a)], axis=1) for t, a in options], axis=1)
        pairing = top_mass_pairing(masses)
    pairing = np.asarray(pairing)
    second = (pairing == 1)[:, None]
    top = np.where(second, options[1][0], options[0][0])
    antitop = np.where(second, options[1][1], options[0][1])
    return top, antitop, pairing


def _check_dilepton(events: PaddedEvents) -> None:
    if events.channel != "dilepton":
        raise ChannelError(
            f"m_tt and pT_t are reconstructed from dilepton events (ℓ⁺bν + ℓ⁻b̄ν̄); "
            f"these are {events.channel} events"
        )


def reco_observables(
    events: PaddedEvents, result: NeutrinoResult
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m_tt, pT_t, valid) with ``result``'s neutrinos; invalid where the method failed
    or the event lacks two b-jet candidates (values there are 0)."""
    _check_dilepton(events)
    b_candidates, has_two = b_jet_candidates(events)
    key = next((key for key in PAIRING_KEYS if key in result.extras), None)
    pairing = None if key is None else result.extras[key]
    if pairing is not None:
        pairing = np.asarray(pairing)
        if pairing.shape != (len(events),) or not np.isin(pairing, (-1, 0, 1)).all():
            raise InputError(f"extras[{key!r}] must be (n,) of -1/0/1, got shape {pairing.shape}")
    top, antitop, _ = pair_tops(
        events.lepton_pos, events.lepton_neg, b_candidates, result.momenta, pairing
    )
    mtt, ptt = mtt_ptt(top, antitop)
    valid = result.valid & has_two & np.isfinite(mtt) & np.isfinite(ptt)
    if pairing is not None:
        valid &= pairing >= 0
    return np.where(valid, mtt, 0.0), np.where(valid, ptt, 0.0), valid


def truth_observables(events: PaddedEvents) -> tuple[np.ndarray, np.ndarray]:
    """(m_tt, pT_t) of the generator's top and antitop."""
    if events.truth_top is None or events.truth_antitop is None:
        raise InputError("truth m_tt and pT_t need the truth_top_* and truth_antitop_* branches")
    return mtt_ptt(events.truth_top, events.truth_antitop)
