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
(:func:`nuanalysis.candidates.b_jet_candidates`) minimises the
analogous (m_t − m_bℓ⁺ν)²/σ² + (m_t − m_b̄ℓ⁻ν̄)²/σ² (:func:`pair_dilepton`; one σ
for both tops, so σ — still calibrated and reported — does not change the choice),
unless the method chose the pairing itself (``extras["b_pairing"]``, or
``extras["pairing"]`` of the ellipse; see :data:`nuanalysis.observables.PAIRING_KEYS`).

The true assignment comes from ``jet_match`` (schema parton order: 0 = b,
1 = b̄, 2–3 = W⁺ daughters, 4–5 = W⁻ daughters); the lepton charge tells the
leptonic side (ℓ⁺: t → b ℓ⁺ ν, so b_lep = parton 0 and q = partons 4, 5).

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numba
import numpy as np

from baselines.constants import TOP_MASS, W_MASS
from nuanalysis.candidates import b_jet_candidate_indices, b_jet_candidates
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.kinematics import mass, massless_from_momentum
from nuanalysis.methods.defaults import ANALYTIC_BASELINE
from nuanalysis.methods.registry import NeutrinoResult, reference_method
from nuanalysis.observables import PAIRING_KEYS, posterior_pairing, top_mass_pairing
from nuanalysis.padded import PaddedEvents
from nuanalysis.posterior import RULES, Posterior, PosteriorRule
from nuanalysis.statistics import binomial_fraction

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


def _refuse_constant(name: str) -> float:
    """``json`` hook: ``NaN`` and ``Infinity`` are neither a σ nor a posterior rule's value."""
    raise ValueError(f"{name} is not a finite number (σ are finite positive numbers in GeV)")


def _is_number(value) -> bool:
    """A finite number, not a boolean (JSON ``true`` is not 1)."""
    return isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value)


def _is_width(value) -> bool:
    """A σ: a finite positive number (JSON ``true`` is not 1 GeV)."""
    return _is_number(value) and value > 0


def load_sigmas(path: str | Path) -> dict[str, dict[str, float]]:
    """Per-method σ from :func:`save_sigmas` or the ``--json`` of ``nuanalysis assign``.

    Every method needs ``blnu`` (the only σ of the dilepton pairing); the
    semileptonic fit needs all of :data:`SIGMA_KEYS` (checked when used).
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text(), parse_constant=_refuse_constant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read σ values from {path}: {error}") from None
    except ValueError as error:  # _refuse_constant
        raise InputError(f"{path}: {error}") from None
    values = values.get("sigmas", values) if isinstance(values, dict) else values
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise InputError(f"{path}: expected {{method: {{'lnu': σ, 'blnu': σ, ...}}}}")
    for method, sigmas in values.items():
        if "blnu" not in sigmas:
            raise InputError(f"{path}: σ of method {method!r} lack blnu")
        bad = {k: v for k, v in sigmas.items() if not _is_width(v)}
        if bad or set(sigmas) - set(SIGMA_KEYS):
            raise InputError(f"{path}: σ of method {method!r} must be finite positive numbers "
                             f"(GeV) named {', '.join(SIGMA_KEYS)}, got {sigmas}")  # fmt: skip
    return {method: {k: float(v) for k, v in s.items()} for method, s in values.items()}


def load_posterior_rules(path: str | Path) -> dict[str, dict[str, float]]:
    """Per-method posterior rules ``{method: {log_prob_weight, temperature}}`` from the
    ``posterior_rule`` of an earlier ``nuanalysis assign --json`` (empty if it has none);
    each value a finite number ≥ 0 (not ``true``, ``Infinity`` or ``NaN``)."""
    try:
        values = json.loads(Path(path).read_text(), parse_constant=_refuse_constant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read the posterior rules from {path}: {error}") from None
    except ValueError as error:  # _refuse_constant
        raise InputError(f"{path}: {error}") from None
    rules = values.get("posterior_rule", {}) if isinstance(values, dict) else {}
    keys = ("log_prob_weight", "temperature")
    if not isinstance(rules, dict) or not all(
        isinstance(rule, dict)
        and set(rule) >= set(keys)
        and all(_is_number(rule[key]) and rule[key] >= 0 for key in keys)
        for rule in rules.values()
    ):
        raise InputError(
            f"{path}: posterior_rule must be {{method: {{{', '.join(keys)}}}}} with finite "
            f"numbers ≥ 0, got {rules}"
        )
    return {name: {key: float(rule[key]) for key in keys} for name, rule in rules.items()}


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True, inline="always")
def _mass(px: float, py: float, pz: float, e: float) -> float:
    m2 = e * e - px * px - py * py - pz * pz
    return np.sqrt(m2) if m2 > 0.0 else 0.0


@numba.njit(cache=True, parallel=True)
def _hadronic_table(jets, n_use, w_mass, top_mass, inv_var_qq, inv_var_bqq):
    """Per event and b_lep candidate j: the smallest hadronic part of eq. 4,
    (m_W − m_qq)²/σ_qq² + (m_t − m_bqq)²/σ_bqq², over (b_had, q1 < q2) among the
    other jets, and that (b_had, q1, q2); inf and -1 where there is none.

    ``jets`` (n, J, 4); ``n_use`` (n,) leading jets to permute.
    """
    n, n_slots = jets.shape[0], jets.shape[1]
    best = np.full((n, n_slots), np.inf)
    choice = np.full((n, n_slots, 3), -1, dtype=np.int64)
    for i in numba.prange(n):
        nj = n_use[i]
        if nj < 4:
            continue
        for q1 in range(nj):
            for q2 in range(q1 + 1, nj):
                wx = jets[i, q1, 0] + jets[i, q2, 0]
                wy = jets[i, q1, 1] + jets[i, q2, 1]
                wz = jets[i, q1, 2] + jets[i, q2, 2]
                we = jets[i, q1, 3] + jets[i, q2, 3]
                qq_term = (w_mass - _mass(wx, wy, wz, we)) ** 2 * inv_var_qq
                for bh in range(nj):
                    if bh == q1 or bh == q2:
                        continue
                    j = jets[i, bh]
                    m_bqq = _mass(wx + j[0], wy + j[1], wz + j[2], we + j[3])
                    hadronic = qq_term + (top_mass - m_bqq) ** 2 * inv_var_bqq
                    for bl in range(nj):
                        if bl == q1 or bl == q2 or bl == bh or hadronic >= best[i, bl]:
                            continue
                        best[i, bl] = hadronic
                        choice[i, bl, 0] = bh
                        choice[i, bl, 1] = q1
                        choice[i, bl, 2] = q2
    return best, choice


@numba.njit(cache=True, parallel=True)
def _leptonic_table(
    jets, n_use, lepton, draws, penalty, temperature, w_mass, top_mass, inv_var_lnu, inv_var_blnu
):
    """Per event and b_lep candidate j: the leptonic part of eq. 4 with each neutrino draw s,
    c_s = (m_W − m_ℓν_s)²/σ_ℓν² + (m_t − m_bℓν_s)²/σ_bℓν² + penalty_s, combined over the
    draws by the soft minimum at ``temperature`` (:mod:`nuanalysis.posterior`), and the s
    of the smallest c_s; inf and -1 beyond ``n_use``.

    ``lepton`` (n, 4); ``draws`` (n, S, 3) massless neutrino momenta; ``penalty`` (n, S).
    The soft minimum is accumulated as a running log-sum-exp.
    """
    n, n_slots = jets.shape[0], jets.shape[1]
    best = np.full((n, n_slots), np.inf)
    which = np.full((n, n_slots), -1, dtype=np.int64)
    top = np.full((n, n_slots), -np.inf)  # running max of −c_s / 2T
    total = np.zeros((n, n_slots))  # running Σ exp(−c_s / 2T − top)
    n_draws = draws.shape[1]
    for i in numba.prange(n):
        for s in range(draws.shape[1]):
            nu = draws[i, s]
            wx = lepton[i, 0] + nu[0]
            wy = lepton[i, 1] + nu[1]
            wz = lepton[i, 2] + nu[2]
            we = lepton[i, 3] + np.sqrt(nu[0] * nu[0] + nu[1] * nu[1] + nu[2] * nu[2])
            base = (w_mass - _mass(wx, wy, wz, we)) ** 2 * inv_var_lnu + penalty[i, s]
            for bl in range(n_use[i]):
                k = jets[i, bl]
                m_blnu = _mass(wx + k[0], wy + k[1], wz + k[2], we + k[3])
                cost = base + (top_mass - m_blnu) ** 2 * inv_var_blnu
                if cost < best[i, bl]:
                    best[i, bl] = cost
                    which[i, bl] = s
                if temperature > 0.0:
                    x = -cost / (2.0 * temperature)
                    if x > top[i, bl]:
                        total[i, bl] = total[i, bl] * np.exp(top[i, bl] - x) + 1.0
                        top[i, bl] = x
                    else:
                        total[i, bl] += np.exp(x - top[i, bl])
        if temperature > 0.0:
            for bl in range(n_use[i]):
                best[i, bl] = -2.0 * temperature * (top[i, bl] + np.log(total[i, bl] / n_draws))
    return best, which


# --------------------------------------------------------------------------- semileptonic


@dataclass
class Assignment:
    """χ² result: ``jets`` (n, 4) indices of (b_lep, b_had, q1, q2) (-1: none), ``chi2`` (n,),
    and ``neutrinos`` (n, 3), the neutrino chosen with b_lep (zeros where b_lep is -1)."""

    jets: np.ndarray
    chi2: np.ndarray
    neutrinos: np.ndarray


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


@dataclass(frozen=True)
class _Fit:
    """What every candidate neutrino set shares: the events' jets and the hadronic table."""

    events: PaddedEvents
    n_use: np.ndarray
    hadronic: np.ndarray  # (n, J) best hadronic χ² per b_lep candidate
    choice: np.ndarray  # (n, J, 3) its (b_had, q1, q2)
    sigmas: MassSigmas
    w_mass: float
    top_mass: float

    @classmethod
    def build(cls, events, sigmas, max_jets, w_mass, top_mass) -> _Fit:
        _require_semileptonic(events)
        if max_jets < 4:
            raise ValueError(f"max_jets must be at least 4, got {max_jets}")
        jets = np.ascontiguousarray(events.jets)
        n_use = np.minimum(events.jet_mask.sum(axis=1), max_jets).astype(np.int64)
        hadronic, choice = _hadronic_table(
            jets, n_use, float(w_mass), float(top_mass), sigmas.qq**-2, sigmas.bqq**-2
        )
        return cls(events, n_use, hadronic, choice, sigmas, float(w_mass), float(top_mass))

    def assign(self, posterior: Posterior, rule: PosteriorRule, valid: np.ndarray) -> Assignment:
        """The best (b_lep, b_had, q1, q2, draw) per event; without a valid neutrino the
        hadronic terms alone choose b_had, q1, q2 and b_lep is -1."""
        lep, which = _leptonic_table(
            np.ascontiguousarray(self.events.jets),
            self.n_use,
            np.ascontiguousarray(self.events.leptons[:, 0]),
            np.ascontiguousarray(posterior.draws[:, :, 0]),
            np.ascontiguousarray(posterior.penalty(rule), dtype=np.float64),
            float(rule.temperature),
            self.w_mass,
            self.top_mass,
            self.sigmas.lnu**-2,
            self.sigmas.blnu**-2,
        )
        total = np.where(valid[:, None], self.hadronic + lep, self.hadronic)
        b_lep = np.argmin(total, axis=1)
        rows = np.arange(len(b_lep))
        chi2 = total[rows, b_lep]
        found = np.isfinite(chi2)
        jets = np.concatenate([b_lep[:, None], self.choice[rows, b_lep]], axis=1)
        jets[~found] = -1
        jets[~valid, 0] = -1
        draw = which[rows, b_lep]
        neutrinos = posterior.draws[rows, np.maximum(draw, 0), 0]
        neutrinos[jets[:, 0] < 0] = 0.0
        return Assignment(jets, chi2, neutrinos)


def assign_semileptonic(
    events: PaddedEvents,
    neutrinos: NeutrinoResult | np.ndarray,
    sigmas: MassSigmas,
    max_jets: int = MAX_ASSIGNMENT_JETS,
    w_mass: float = W_MASS,
    top_mass: float = TOP_MASS,
    posterior: Posterior | None = None,
    rule: PosteriorRule | None = None,
) -> Assignment:
    """The eq. 4 assignment of the ``max_jets`` leading jets, with the given neutrinos.

    ``neutrinos`` is a method's :class:`NeutrinoResult` (invalid events fit
    without the neutrino terms, b_lep = -1) or an (n, 3) array. With a
    ``posterior``, the neutrino is chosen among its draws jointly with the
    jets, the draws combined by ``rule`` (:mod:`nuanalysis.posterior`; default λ = T = 0);
    without one, ``neutrinos`` is the only draw (and the rule changes nothing).
    Events with fewer than four jets get -1 everywhere and χ² = inf.
    """
    fit = _Fit.build(events, sigmas, max_jets, w_mass, top_mass)
    momenta, valid = _neutrino_array(events, neutrinos)
    if posterior is None:
        posterior = Posterior.point(np.where(valid[:, None], momenta, 0.0)[:, None])
    elif len(posterior) != len(events):
        raise InputError(f"posterior has {len(posterior)} events, the events {len(events)}")
    return fit.assign(posterior, rule or PosteriorRule(), valid)


def calibrate_posterior_rule(
    events: PaddedEvents,
    result: NeutrinoResult,
    posterior: Posterior,
    sigmas: MassSigmas,
    rules: tuple[PosteriorRule, ...] = RULES,
) -> tuple[PosteriorRule, dict[str, float]]:
    """The rule (λ, T) of :mod:`nuanalysis.posterior` among ``rules`` giving the most correct
    b_lep on the (calibration) ``events`` whose four partons are matched, and the b_lep
    accuracy of every rule."""
    truth = true_assignment(events)
    selected = fully_matched(truth)
    if not selected.any():
        raise InputError("no calibration event has all four partons matched: cannot calibrate λ")
    fit = _Fit.build(events, sigmas, MAX_ASSIGNMENT_JETS, W_MASS, TOP_MASS)

    def accuracy(rule: PosteriorRule) -> float:
        assigned = fit.assign(posterior, rule, result.valid)
        return float((assigned.jets[selected, 0] == truth[selected, 0]).mean())

    return _best_rule(accuracy, rules)


def _best_rule(
    accuracy: Callable[[PosteriorRule], float], rules: tuple[PosteriorRule, ...]
) -> tuple[PosteriorRule, dict[str, float]]:
    """The rule with the highest ``accuracy`` (the first of ``rules`` on a tie) and every
    rule's accuracy keyed by its label."""
    scores = {rule.label: accuracy(rule) for rule in rules}
    return max(rules, key=lambda rule: scores[rule.label]), scores


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
    """m(bℓν) by [pairing p, side]: p gives b candidate p to ℓ⁺; side 0 = ℓ⁺ν, 1 = ℓ⁻ν̄.

    ``neutrinos`` (n, 2, 3) gives (n, 2, 2); posterior draws (n, S, 2, 3) give (n, S, 2, 2).
    """
    _require_dilepton(events)
    candidates, _ = b_jet_candidates(events)
    nu = massless_from_momentum(np.asarray(neutrinos, dtype=np.float64))
    extra = (1,) * (nu.ndim - 3)  # the draw axis, if any
    n = len(events)
    w_pos = events.lepton_pos.reshape(n, *extra, 4) + nu[..., 0, :]
    w_neg = events.lepton_neg.reshape(n, *extra, 4) + nu[..., 1, :]
    out = np.empty((*nu.shape[:-2], 2, 2))
    for p in (0, 1):
        out[..., p, 0] = mass(w_pos + candidates[:, p].reshape(n, *extra, 4))
        out[..., p, 1] = mass(w_neg + candidates[:, 1 - p].reshape(n, *extra, 4))
    return out


@dataclass(frozen=True)
class PosteriorChoice:
    """How a posterior enters the dilepton pairing: σ_bℓν (GeV) of the χ² and the rule (λ, T)."""

    sigma: float
    rule: PosteriorRule


def choose_dilepton(
    events: PaddedEvents, posterior: Posterior, choice: PosteriorChoice, top_mass=TOP_MASS
) -> tuple[np.ndarray, np.ndarray]:
    """(n,) b candidate paired with ℓ⁺ and (n, 2, 3) neutrinos: the pairing minimising the
    soft minimum over the draws of Σ_tops (m(bℓν) − m_t)²/σ² − 2λ Δlog p, and its best draw
    (:func:`nuanalysis.observables.posterior_pairing`)."""
    masses = dilepton_masses(events, posterior.draws)
    pairing, draw = posterior_pairing(
        masses, posterior.penalty(choice.rule), choice.sigma, choice.rule.temperature, top_mass
    )
    return pairing, posterior.draws[np.arange(len(draw)), draw]


def pair_dilepton(
    events: PaddedEvents,
    result: NeutrinoResult,
    top_mass=TOP_MASS,
    choice: PosteriorChoice | None = None,
) -> np.ndarray:
    """(n,) index of the b candidate paired with ℓ⁺: the method's own (``extras["b_pairing"]``
    or ``extras["pairing"]``, ellipse), with a ``choice`` and a posterior in the result the
    posterior-aware :func:`choose_dilepton`, else :func:`nuanalysis.observables.top_mass_pairing`;
    -1 without two candidates, a neutrino or the method's pairing."""
    _require_dilepton(events)
    _, has_two = b_jet_candidates(events)
    key = next((key for key in PAIRING_KEYS if key in result.extras), None)
    posterior = Posterior.from_result(result)
    if key is not None:
        pairing = np.asarray(result.extras[key], dtype=np.int64)
    elif choice is not None and posterior is not None:
        pairing, _ = choose_dilepton(events, posterior, choice, top_mass)
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


def calibrate_dilepton_rule(
    events: PaddedEvents,
    result: NeutrinoResult,
    posterior: Posterior,
    sigma: float,
    rules: tuple[PosteriorRule, ...] = RULES,
) -> tuple[PosteriorRule, dict[str, float]]:
    """The rule (λ, T) among ``rules`` giving the most correct pairings, with σ_bℓν =
    ``sigma``, on the (calibration) ``events``, and the pairing accuracy of every rule."""
    truth = true_dilepton_pairing(events)
    _, has_two = b_jet_candidates(events)
    selected = (truth >= 0) & has_two & result.valid
    if not selected.any():
        raise InputError("no calibration event has both b candidates matched: cannot calibrate λ")

    def accuracy(rule: PosteriorRule) -> float:
        pairing, _ = choose_dilepton(events, posterior, PosteriorChoice(sigma, rule))
        return float((pairing[selected] == truth[selected]).mean())

    return _best_rule(accuracy, rules)


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
) -> tuple[dict[str, float], dict[str, float]]:
    """Fraction correct per jet multiplicity and its binomial uncertainty: half the 68 % Wilson
    interval (:func:`nuanalysis.statistics.binomial_fraction`), not 0 at 0 or 1 correct."""
    capped = np.minimum(n_jets, int(labels[-1]))
    fraction, uncertainty = {}, {}
    for label in labels:
        in_bin = capped == int(label)
        figure = binomial_fraction(int(correct[in_bin].sum()), int(in_bin.sum()))
        fraction[label], uncertainty[label] = figure["value"], figure["err"]
    return fraction, uncertainty


def _counts(n_jets: np.ndarray, labels: tuple[str, ...]) -> dict[str, int]:
    capped = np.minimum(n_jets, int(labels[-1]))
    return {label: int((capped == int(label)).sum()) for label in labels}


GAP_GROUPS = {"4-6": (4, 6), "7-9": (7, 9)}
"""Jet multiplicities pooled for the share of the truth-ν − quadratic b_lep gap closed."""

BOOTSTRAP_REPLICAS = 400


def gap_closed(
    correct: dict[str, np.ndarray],
    n_jets: np.ndarray,
    floor: str = ANALYTIC_BASELINE,
    ceiling: str | None = None,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """Per method and :data:`GAP_GROUPS` group: the share (a − a_floor)/(a_ceiling − a_floor)
    of the accuracy gap between ``floor`` and ``ceiling`` that the method closes, with a
    bootstrap uncertainty (the same events are resampled for all methods, so their
    correlation is kept), and the pooled accuracy with its binomial uncertainty. ``ceiling``:
    the reference method (truth ν) by default."""
    ceiling = reference_method() if ceiling is None else ceiling
    rng = np.random.default_rng(seed)
    capped = np.minimum(n_jets, 9)
    out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in correct}
    for group, (low, high) in GAP_GROUPS.items():
        rows = np.flatnonzero((capped >= low) & (capped <= high))
        if len(rows) == 0:
            continue
        replicas = rng.integers(0, len(rows), (BOOTSTRAP_REPLICAS, len(rows)))
        accuracy = {name: c[rows].astype(float) for name, c in correct.items()}
        resampled = {name: a[replicas].mean(axis=1) for name, a in accuracy.items()}
        for name, a in accuracy.items():
            figure = binomial_fraction(int(a.sum()), len(rows))
            entry = {"accuracy": figure["value"], "uncertainty": figure["err"]}
            p = figure["value"]
            if floor in accuracy and ceiling in accuracy:
                gap = accuracy[ceiling].mean() - accuracy[floor].mean()
                gaps = resampled[ceiling] - resampled[floor]
                share = np.divide(
                    resampled[name] - resampled[floor], gaps, out=np.full_like(gaps, np.nan),
                    where=gaps != 0,
                )  # fmt: skip
                entry["gap_closed"] = float((p - accuracy[floor].mean()) / gap) if gap else np.nan
                entry["gap_closed_uncertainty"] = float(np.nanstd(share))
            entry["n_events"] = len(rows)
            out[name][group] = entry
    return out


def _posterior_rule(
    name: str,
    given: dict[str, dict[str, float]],
    can_calibrate: bool,
    calibrate: Callable[[], tuple[PosteriorRule, dict[str, float]]],
    rules_used: dict[str, dict],
) -> PosteriorRule:
    """The rule of method ``name``: given, else ``calibrate()`` (with calibration events);
    recorded in ``rules_used``."""
    scores = None
    if name in given:
        rule = PosteriorRule(**given[name])
    elif can_calibrate:
        rule, scores = calibrate()
    else:
        raise InputError(
            f"the posterior rule (λ, T) of {name} is calibrated on calibration events: give it "
            "(an earlier assign --json holds it under posterior_rule) or calibrate"
        )
    rules_used[name] = {**asdict(rule), "calibration_accuracy": scores}
    return rule


def assignment_study(
    events: PaddedEvents,
    results: dict[str, NeutrinoResult],
    calibration: np.ndarray,
    sigmas: dict[str, dict[str, float]] | None = None,
    rules: dict[str, dict[str, float]] | None = None,
) -> dict:
    """σ calibrated on the ``calibration`` events, accuracies on the others (Tables 2–5).

    ``sigmas`` (as from :func:`load_sigmas`) fixes the σ of the methods it
    names instead of calibrating them; ``rules`` ({method: {log_prob_weight,
    temperature}}) likewise the rule of methods carrying a posterior
    (``flow-posterior``, :mod:`nuanalysis.posterior`), which are otherwise
    calibrated after their σ, on the same events (:func:`calibrate_posterior_rule`,
    :func:`calibrate_dilepton_rule`); the σ of such a method are those of its
    point (the mode).

    Semileptonic: per method, the σ of eq. 4 and the fraction of correct b_lep,
    b_had, q (the leading true light-quark jet among the chosen pair) and qq
    (both) per jet multiplicity, among events whose four partons are matched
    to distinct jets among the 9 leading, with binomial uncertainties
    (``uncertainty``), and the share of the truth − quadratic b_lep gap closed
    at 4–6 and 7–9 jets (:func:`gap_closed`). Dilepton: σ_bℓν and the fraction
    of correct b ↔ lepton pairings among events whose two b candidates are the
    matched b and b̄.
    """
    given, given_rules = sigmas or {}, rules or {}
    calibration = np.asarray(calibration, dtype=bool)
    evaluation = ~calibration
    cal_events, eval_events = events.select(calibration), events.select(evaluation)
    out: dict = {"channel": events.channel, "sigmas": {}, "accuracy": {}, "uncertainty": {}}
    correct_by_role: dict[str, dict[str, np.ndarray]] = {}
    rules_used: dict[str, dict] = {}
    can_calibrate = bool(calibration.any())
    if events.channel == "semileptonic":
        truth = true_assignment(eval_events)
        selected = fully_matched(truth)
        labels = JET_MULTIPLICITIES
        for name, result in results.items():
            fixed = given.get(name)
            cal_result, eval_result = _subset(result, calibration), _subset(result, evaluation)
            method_sigmas = (
                MassSigmas.from_dict(fixed)
                if fixed is not None
                else calibrate_sigmas(cal_events, cal_result)
            )
            out["sigmas"][name] = method_sigmas.to_dict()
            posterior, rule = Posterior.from_result(result), None
            if posterior is not None:
                calibrate = partial(
                    calibrate_posterior_rule,
                    cal_events,
                    cal_result,
                    posterior.select(calibration),
                    method_sigmas,
                )
                rule = _posterior_rule(name, given_rules, can_calibrate, calibrate, rules_used)
            assigned = assign_semileptonic(
                eval_events,
                eval_result,
                method_sigmas,
                posterior=None if posterior is None else posterior.select(evaluation),
                rule=rule,
            )
            for role, correct in correct_roles(assigned.jets, truth).items():
                correct_by_role.setdefault(role, {})[name] = correct[selected]
        out["blep_gap_closed"] = gap_closed(correct_by_role["blep"], eval_events.n_jets[selected])
    else:
        truth = true_dilepton_pairing(eval_events)
        selected = truth >= 0
        labels = PAIRING_MULTIPLICITIES
        for name, result in results.items():
            cal_result, eval_result = _subset(result, calibration), _subset(result, evaluation)
            sigma = (
                given[name]["blnu"]
                if name in given
                else calibrate_dilepton_sigma(cal_events, cal_result)
            )
            out["sigmas"][name] = {"blnu": sigma}
            posterior, choice = Posterior.from_result(result), None
            if posterior is not None:
                calibrate = partial(
                    calibrate_dilepton_rule,
                    cal_events,
                    cal_result,
                    posterior.select(calibration),
                    sigma,
                )
                rule = _posterior_rule(name, given_rules, can_calibrate, calibrate, rules_used)
                choice = PosteriorChoice(sigma, rule)
            pairing = pair_dilepton(eval_events, eval_result, choice=choice)
            correct_by_role.setdefault("pairing", {})[name] = (pairing == truth)[selected]
    n_jets = eval_events.n_jets[selected]
    for role, by_method in correct_by_role.items():
        out["accuracy"][role], out["uncertainty"][role] = {}, {}
        for name, correct in by_method.items():
            fraction, uncertainty = _by_multiplicity(correct, n_jets, labels)
            out["accuracy"][role][name] = fraction
            out["uncertainty"][role][name] = uncertainty
    if rules_used:
        out["posterior_rule"] = rules_used
    out["n_events"] = _counts(n_jets, labels)
    out["n_calibration"] = int(calibration.sum())
    out["n_evaluation"] = int(evaluation.sum())
    return out
