"""χ² jet–parton assignment (ν-Flows paper §4.3, eq. 4, Tables 2–5).

Semileptonic tt̄: every assignment of the leading jets (up to 9) to
(b_lep, b_had, q1, q2) is tested and the one minimising

    χ² = (m_W − m_ℓν)²/σ_ℓν² + (m_W − m_qq)²/σ_qq² + (m_t − m_bℓν)²/σ_bℓν² + (m_t − m_bqq)²/σ_bqq²

is kept. The neutrino enters through m_ℓν and m_bℓν, so the choice of b_lep
depends on the neutrino method. Eq. 4 is printed with σ rather than σ² in the
denominators; we use σ² (a χ², dimensionless), which is the standard fit of
ref. [52]. As in the paper's text, *every* permutation is tested: b-tagging is
not used. q1 ↔ q2 give the same χ², so each unordered pair is tried once
(q1 is the leading of the two).

Where a method found no neutrino (``valid`` False) the two neutrino terms are
dropped: b_had, q1 and q2 come from the hadronic terms and b_lep is -1 (not
assigned), so such events count as misses of b_lep.

The σ of each term is the root-mean-square deviation of that mass from its
reference value (m_W = W_MASS, m_t = TOP_MASS; the paper used 80.38 and 173
GeV, we use the generator's top mass) under the true assignment, per neutrino
method (paper Table 3): :func:`calibrate_sigmas`.

Dilepton tt̄: the b ↔ lepton pairing of the two b-jet candidates
(:func:`nuanalysis.methods.candidates.b_jet_candidates`) minimises the
analogous (m_t − m_bℓ⁺ν)²/σ² + (m_t − m_b̄ℓ⁻ν̄)²/σ² (:func:`pair_dilepton`; one σ
for both tops, so σ — still calibrated and reported — does not change the choice),
unless the method chose the pairing itself (``extras["b_pairing"]``, or
``extras["pairing"]`` of the ellipse; see :data:`nuanalysis.observables.PAIRING_KEYS`).

The true assignment comes from ``jet_match`` (schema parton order: 0 = b,
1 = b̄, 2–3 = W⁺ daughters, 4–5 = W⁻ daughters); the lepton charge tells the
leptonic side (ℓ⁺: t → b ℓ⁺ ν, so b_lep = parton 0 and q = partons 4, 5).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np

from baselines.constants import TOP_MASS, W_MASS
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.kinematics import mass, massless_from_momentum
from nuanalysis.methods.candidates import b_jet_candidate_indices, b_jet_candidates
from nuanalysis.methods.registry import NeutrinoResult
from nuanalysis.observables import PAIRING_KEYS, top_mass_pairing
from nuanalysis.padded import PaddedEvents

MAX_ASSIGNMENT_JETS = 9
"""Leading jets permuted by the χ² fit (paper §4.3)."""

SIGMA_KEYS = ("lnu", "blnu", "qq", "bqq")


@dataclass(frozen=True)
class MassSigmas:
    """σ (GeV) of the four terms of eq. 4 (paper Table 3)."""

    lnu: float
    blnu: float
    qq: float
    bqq: float

    def __post_init__(self) -> None:
        for key in SIGMA_KEYS:
            value = getattr(self, key)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"σ_{key} must be positive and finite, got {value}")

    def to_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> MassSigmas:
        missing = [key for key in SIGMA_KEYS if key not in values]
        if missing:
            raise InputError(f"σ values lack {', '.join(missing)}; need {', '.join(SIGMA_KEYS)}")
        return cls(**{key: float(values[key]) for key in SIGMA_KEYS})


def save_sigmas(path: str | Path, sigmas: dict[str, MassSigmas]) -> Path:
    """Write per-method σ values as JSON ``{method: {"lnu": ..., ...}}``."""
    path = Path(path)
    path.write_text(json.dumps({m: s.to_dict() for m, s in sigmas.items()}, indent=1))
    return path


def load_sigmas(path: str | Path) -> dict[str, dict[str, float]]:
    """Per-method σ from :func:`save_sigmas` or the ``--json`` of ``nuanalysis assign``.

    Every method needs ``blnu`` (the only σ of the dilepton pairing); the
    semileptonic fit needs all of :data:`SIGMA_KEYS` (checked when used).
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read σ values from {path}: {error}") from None
    values = values.get("sigmas", values) if isinstance(values, dict) else values
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise InputError(f"{path}: expected {{method: {{'lnu': σ, 'blnu': σ, ...}}}}")
    for method, sigmas in values.items():
        if "blnu" not in sigmas:
            raise InputError(f"{path}: σ of method {method!r} lack blnu")
        bad = [k for k, v in sigmas.items() if not (isinstance(v, float | int) and v > 0)]
        if bad or set(sigmas) - set(SIGMA_KEYS):
            raise InputError(f"{path}: σ of method {method!r} must be positive numbers named "
                             f"{', '.join(SIGMA_KEYS)}, got {sigmas}")  # fmt: skip
    return {method: {k: float(v) for k, v in s.items()} for method, s in values.items()}


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True, inline="always")
def _mass(px: float, py: float, pz: float, e: float) -> float:
    m2 = e * e - px * px - py * py - pz * pz
    return np.sqrt(m2) if m2 > 0.0 else 0.0


@numba.njit(cache=True, parallel=True)
def _semileptonic_chi2(jets, n_use, w_lep, use_neutrino, w_mass, top_mass, inv_var):
    """Best (b_lep, b_had, q1, q2) per event and its χ² (eq. 4).

    ``jets`` (n, J, 4); ``n_use`` (n,) jets to permute; ``w_lep`` (n, 4) the
    lepton + neutrino; ``inv_var`` 1/σ² of (ℓν, bℓν, qq, bqq).
    """
    n = jets.shape[0]
    best = np.full((n, 4), -1, dtype=np.int64)
    best_chi2 = np.full(n, np.inf)
    for i in numba.prange(n):
        nj = n_use[i]
        if nj < 4:
            continue
        wl = w_lep[i]
        lnu_term = 0.0
        if use_neutrino[i]:
            lnu_term = (w_mass - _mass(wl[0], wl[1], wl[2], wl[3])) ** 2 * inv_var[0]
        for q1 in range(nj):
            for q2 in range(q1 + 1, nj):
                wx = jets[i, q1, 0] + jets[i, q2, 0]
                wy = jets[i, q1, 1] + jets[i, q2, 1]
                wz = jets[i, q1, 2] + jets[i, q2, 2]
                we = jets[i, q1, 3] + jets[i, q2, 3]
                qq_term = (w_mass - _mass(wx, wy, wz, we)) ** 2 * inv_var[2]
                for bh in range(nj):
                    if bh == q1 or bh == q2:
                        continue
                    j = jets[i, bh]
                    m_bqq = _mass(wx + j[0], wy + j[1], wz + j[2], we + j[3])
                    had = lnu_term + qq_term + (top_mass - m_bqq) ** 2 * inv_var[3]
                    for bl in range(nj):
                        if bl == q1 or bl == q2 or bl == bh:
                            continue
                        chi2 = had
                        if use_neutrino[i]:
                            k = jets[i, bl]
                            m_blnu = _mass(wl[0] + k[0], wl[1] + k[1], wl[2] + k[2], wl[3] + k[3])
                            chi2 += (top_mass - m_blnu) ** 2 * inv_var[1]
                        if chi2 < best_chi2[i]:
                            best_chi2[i] = chi2
                            best[i, 0] = bl if use_neutrino[i] else -1
                            best[i, 1] = bh
                            best[i, 2] = q1
                            best[i, 3] = q2
    return best, best_chi2


# --------------------------------------------------------------------------- semileptonic


@dataclass
class Assignment:
    """χ² result: ``jets`` (n, 4) indices of (b_lep, b_had, q1, q2) (-1: none), ``chi2`` (n,)."""

    jets: np.ndarray
    chi2: np.ndarray


def _require_semileptonic(events: PaddedEvents) -> None:
    if events.channel != "semileptonic":
        raise ChannelError(
            f"the (b_lep, b_had, q1, q2) χ² fit needs semileptonic events, not {events.channel}; "
            "dilepton events are paired with pair_dilepton"
        )


def _neutrino_array(events: PaddedEvents, neutrinos: NeutrinoResult | np.ndarray):
    """(n, 3) momenta and (n,) valid mask of the first neutrino."""
    if isinstance(neutrinos, NeutrinoResult):
        return neutrinos.momenta[:, 0], neutrinos.valid
    momenta = np.asarray(neutrinos, dtype=np.float64)
    if momenta.ndim == 3:
        momenta = momenta[:, 0]
    if momenta.shape != (len(events), 3):
        raise InputError(f"neutrinos must be (n_events, 3), got {momenta.shape}")
    return momenta, np.isfinite(momenta).all(axis=1)


def assign_semileptonic(
    events: PaddedEvents,
    neutrinos: NeutrinoResult | np.ndarray,
    sigmas: MassSigmas,
    max_jets: int = MAX_ASSIGNMENT_JETS,
    w_mass: float = W_MASS,
    top_mass: float = TOP_MASS,
) -> Assignment:
    """The eq. 4 assignment of the ``max_jets`` leading jets, with the given neutrinos.

    ``neutrinos`` is a method's :class:`NeutrinoResult` (invalid events fit
    without the neutrino terms, b_lep = -1) or an (n, 3) array. Events with
    fewer than four jets get -1 everywhere and χ² = inf.
    """
    _require_semileptonic(events)
    if max_jets < 4:
        raise ValueError(f"max_jets must be at least 4, got {max_jets}")
    momenta, valid = _neutrino_array(events, neutrinos)
    w_lep = events.leptons[:, 0] + massless_from_momentum(np.where(valid[:, None], momenta, 0.0))
    n_use = np.minimum(events.jet_mask.sum(axis=1), max_jets).astype(np.int64)
    inv_var = 1.0 / np.array([sigmas.lnu, sigmas.blnu, sigmas.qq, sigmas.bqq]) ** 2
    best, chi2 = _semileptonic_chi2(
        np.ascontiguousarray(events.jets),
        n_use,
        np.ascontiguousarray(w_lep),
        np.ascontiguousarray(valid),
        float(w_mass),
        float(top_mass),
        inv_var,
    )
    return Assignment(best, chi2)


def _matched_jet(events: PaddedEvents, parton: np.ndarray, max_jets: int) -> np.ndarray:
    """(n,) first of the ``max_jets`` leading jets matched to ``parton``; -1 if none."""
    considered = events.jet_mask & (np.arange(events.jet_mask.shape[1]) < max_jets)
    matched = considered & (events.jet_match == parton[:, None])
    return np.where(matched.any(axis=1), np.argmax(matched, axis=1), -1)


def true_assignment(events: PaddedEvents, max_jets: int = MAX_ASSIGNMENT_JETS) -> np.ndarray:
    """(n, 4) truth-matched jet indices of (b_lep, b_had, q1, q2); -1 where unmatched.

    q1 is the leading (lower index) of the two light-quark jets.
    """
    _require_semileptonic(events)
    if events.jet_match is None or (events.jet_match < 0).all():
        raise InputError("the true jet assignment needs the jet_match branch (simulation only)")
    positive = events.lep_charge[:, 0] > 0
    b_lep = np.where(positive, 0, 1)
    q_first = np.where(positive, 4, 2)  # the hadronic W: W⁻ (4, 5) when ℓ⁺, else W⁺ (2, 3)
    columns = [_matched_jet(events, p, max_jets) for p in (b_lep, 1 - b_lep, q_first, q_first + 1)]
    q = np.stack(columns[2:], axis=1)
    q_sorted = np.where((q < 0).any(axis=1, keepdims=True), q, np.sort(q, axis=1))
    return np.stack([columns[0], columns[1], q_sorted[:, 0], q_sorted[:, 1]], axis=1)


def fully_matched(truth: np.ndarray) -> np.ndarray:
    """(n,) events whose four partons are matched to four distinct jets."""
    distinct = (np.diff(np.sort(truth, axis=1), axis=1) != 0).all(axis=1)
    return (truth >= 0).all(axis=1) & distinct


def correct_roles(assigned: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-event correctness of b_lep, b_had, the leading q (paper Table 5) and both q.

    "q": the chosen pair contains the leading true light-quark jet (q1 ↔ q2
    symmetric); "qq": the chosen pair is the true pair.
    """
    pair = assigned[:, 2:]
    return {
        "blep": (assigned[:, 0] == truth[:, 0]) & (truth[:, 0] >= 0),
        "bhad": (assigned[:, 1] == truth[:, 1]) & (truth[:, 1] >= 0),
        "q": ((pair == truth[:, 2:3]).any(axis=1)) & (truth[:, 2] >= 0),
        "qq": (np.sort(pair, axis=1) == truth[:, 2:]).all(axis=1) & (truth[:, 2] >= 0),
    }


# --------------------------------------------------------------------------- σ calibration


def rms_about(values: np.ndarray, reference: float) -> float:
    """Root-mean-square deviation of ``values`` from ``reference`` (paper Table 3)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise InputError("no events to calibrate a χ² σ on")
    return float(np.sqrt(np.mean((values - reference) ** 2)))


def true_assignment_masses(
    events: PaddedEvents, neutrinos: NeutrinoResult | np.ndarray
) -> dict[str, np.ndarray]:
    """m_ℓν, m_bℓν, m_qq, m_bqq under the true assignment (fully matched events with a ν)."""
    truth = true_assignment(events)
    momenta, valid = _neutrino_array(events, neutrinos)
    keep = fully_matched(truth) & valid
    rows = np.flatnonzero(keep)
    jets = events.jets[rows[:, None], truth[rows]]  # (k, 4, 4)
    w_lep = events.leptons[rows, 0] + massless_from_momentum(momenta[rows])
    w_had = jets[:, 2] + jets[:, 3]
    return {
        "lnu": mass(w_lep),
        "blnu": mass(w_lep + jets[:, 0]),
        "qq": mass(w_had),
        "bqq": mass(w_had + jets[:, 1]),
    }


def calibrate_sigmas(
    events: PaddedEvents,
    neutrinos: NeutrinoResult | np.ndarray,
    w_mass: float = W_MASS,
    top_mass: float = TOP_MASS,
) -> MassSigmas:
    """σ of each eq. 4 term: RMS deviation from m_W / m_t under the true assignment (Table 3)."""
    masses = true_assignment_masses(events, neutrinos)
    reference = {"lnu": w_mass, "blnu": top_mass, "qq": w_mass, "bqq": top_mass}
    if len(masses["lnu"]) == 0:
        raise InputError(
            "no event has all four partons matched to jets and a neutrino: cannot calibrate σ"
        )
    return MassSigmas(**{key: rms_about(masses[key], reference[key]) for key in SIGMA_KEYS})


# --------------------------------------------------------------------------- dilepton


def _require_dilepton(events: PaddedEvents) -> None:
    if events.channel != "dilepton":
        raise ChannelError(f"the b ↔ lepton pairing needs dilepton events, not {events.channel}")


def dilepton_masses(events: PaddedEvents, neutrinos: np.ndarray) -> np.ndarray:
    """(n, 2, 2) m(bℓν) by [pairing p, side]: p gives b candidate p to ℓ⁺; side 0 = ℓ⁺ν, 1 = ℓ⁻ν̄."""
    _require_dilepton(events)
    candidates, _ = b_jet_candidates(events)
    nu = massless_from_momentum(np.asarray(neutrinos, dtype=np.float64))
    w_pos = events.lepton_pos + nu[:, 0]
    w_neg = events.lepton_neg + nu[:, 1]
    out = np.empty((len(events), 2, 2))
    for p in (0, 1):
        out[:, p, 0] = mass(w_pos + candidates[:, p])
        out[:, p, 1] = mass(w_neg + candidates[:, 1 - p])
    return out


def pair_dilepton(events: PaddedEvents, result: NeutrinoResult, top_mass=TOP_MASS) -> np.ndarray:
    """(n,) index of the b candidate paired with ℓ⁺: the method's own (``extras["b_pairing"]``
    or ``extras["pairing"]``, ellipse) or :func:`nuanalysis.observables.top_mass_pairing`;
    -1 without two candidates, a neutrino or the method's pairing."""
    _require_dilepton(events)
    _, has_two = b_jet_candidates(events)
    key = next((key for key in PAIRING_KEYS if key in result.extras), None)
    if key is not None:
        pairing = np.asarray(result.extras[key], dtype=np.int64)
    else:
        pairing = top_mass_pairing(dilepton_masses(events, result.momenta), top_mass)
    return np.where(has_two & result.valid, pairing, -1)


def true_dilepton_pairing(events: PaddedEvents) -> np.ndarray:
    """(n,) true pairing: the candidate matched to b (parton 0) goes with ℓ⁺; -1 if unmatched."""
    _require_dilepton(events)
    index = b_jet_candidate_indices(events)
    match = np.where(index >= 0, np.take_along_axis(events.jet_match, np.maximum(index, 0), 1), -1)
    truth = np.full(len(events), -1)
    truth[(match[:, 0] == 0) & (match[:, 1] == 1)] = 0
    truth[(match[:, 0] == 1) & (match[:, 1] == 0)] = 1
    return truth


def calibrate_dilepton_sigma(
    events: PaddedEvents, result: NeutrinoResult, top_mass: float = TOP_MASS
) -> float:
    """σ_bℓν of the dilepton pairing: RMS of both m(bℓν) about m_t under the true pairing."""
    truth = true_dilepton_pairing(events)
    keep = (truth >= 0) & result.valid
    m = dilepton_masses(events.select(keep), result.momenta[keep])
    chosen = m[np.arange(keep.sum()), truth[keep]]
    return rms_about(chosen.ravel(), top_mass)


# --------------------------------------------------------------------------- the study


JET_MULTIPLICITIES = ("4", "5", "6", "7", "8", "9")
"""Columns of Tables 2, 4, 5; "9" holds events with 9 or more jets (only 9 are permuted)."""

PAIRING_MULTIPLICITIES = ("2", "3", "4", "5", "6", "7", "8", "9")


def _subset(result: NeutrinoResult, keep: np.ndarray) -> NeutrinoResult:
    extras = {k: np.asarray(v)[keep] for k, v in result.extras.items() if np.ndim(v) >= 1}
    weight = None if result.weight is None else result.weight[keep]
    return NeutrinoResult(result.momenta[keep].copy(), result.valid[keep], weight, extras)


def _by_multiplicity(
    correct: np.ndarray, n_jets: np.ndarray, labels: tuple[str, ...]
) -> dict[str, float]:
    capped = np.minimum(n_jets, int(labels[-1]))
    out = {}
    for label in labels:
        in_bin = capped == int(label)
        out[label] = float(correct[in_bin].mean()) if in_bin.any() else float("nan")
    return out


def _counts(n_jets: np.ndarray, labels: tuple[str, ...]) -> dict[str, int]:
    capped = np.minimum(n_jets, int(labels[-1]))
    return {label: int((capped == int(label)).sum()) for label in labels}


def assignment_study(
    events: PaddedEvents,
    results: dict[str, NeutrinoResult],
    calibration: np.ndarray,
    sigmas: dict[str, dict[str, float]] | None = None,
) -> dict:
    """σ calibrated on the ``calibration`` events, accuracies on the others (Tables 2–5).

    ``sigmas`` (as from :func:`load_sigmas`) fixes the σ of the methods it
    names instead of calibrating them.

    Semileptonic: per method, the σ of eq. 4 and the fraction of correct b_lep,
    b_had, q (the leading true light-quark jet among the chosen pair) and qq
    (both) per jet multiplicity, among events whose four partons are matched
    to distinct jets among the 9 leading. Dilepton: σ_bℓν and the fraction of
    correct b ↔ lepton pairings among events whose two b candidates are the
    matched b and b̄.
    """
    given = sigmas or {}
    calibration = np.asarray(calibration, dtype=bool)
    evaluation = ~calibration
    cal_events, eval_events = events.select(calibration), events.select(evaluation)
    out: dict = {"channel": events.channel, "sigmas": {}, "accuracy": {}}
    if events.channel == "semileptonic":
        truth = true_assignment(eval_events)
        selected = fully_matched(truth)
        n_jets = eval_events.n_jets[selected]
        out["accuracy"] = {role: {} for role in ("blep", "bhad", "q", "qq")}
        for name, result in results.items():
            fixed = given.get(name)
            method_sigmas = (
                MassSigmas.from_dict(fixed)
                if fixed is not None
                else calibrate_sigmas(cal_events, _subset(result, calibration))
            )
            out["sigmas"][name] = method_sigmas.to_dict()
            assigned = assign_semileptonic(eval_events, _subset(result, evaluation), method_sigmas)
            for role, correct in correct_roles(assigned.jets, truth).items():
                out["accuracy"][role][name] = _by_multiplicity(
                    correct[selected], n_jets, JET_MULTIPLICITIES
                )
        out["n_events"] = _counts(n_jets, JET_MULTIPLICITIES)
    else:
        truth = true_dilepton_pairing(eval_events)
        selected = truth >= 0
        n_jets = eval_events.n_jets[selected]
        out["accuracy"]["pairing"] = {}
        for name, result in results.items():
            sigma = (
                given[name]["blnu"]
                if name in given
                else calibrate_dilepton_sigma(cal_events, _subset(result, calibration))
            )
            out["sigmas"][name] = {"blnu": sigma}
            pairing = pair_dilepton(eval_events, _subset(result, evaluation))
            out["accuracy"]["pairing"][name] = _by_multiplicity(
                (pairing == truth)[selected], n_jets, PAIRING_MULTIPLICITIES
            )
        out["n_events"] = _counts(n_jets, PAIRING_MULTIPLICITIES)
    out["n_calibration"] = int(calibration.sum())
    out["n_evaluation"] = int(evaluation.sum())
    return out
