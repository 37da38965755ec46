"""The flow's posterior carried downstream: draws per event and how they enter a χ².

A flow gives a density p(ν | event) over each event's neutrinos. The
``flow-posterior`` method keeps S draws per event and their log-density
(``NeutrinoResult.extras``, keys :data:`DRAWS_KEY` and :data:`LOG_PROB_KEY`)
so that the χ² jet assignment and the dilepton b ↔ lepton pairing choose the
jets with the whole posterior rather than one point (ν-Flows, SciPost Phys. 14,
159 (2023), §5: "the jet-parton assignment and the neutrino estimation both
improve each other"; https://arxiv.org/abs/2207.00664). For a jet choice c, each
draw s has the χ² of the neutrino terms plus a penalty from its density,

    χ²_s(c) − 2λ [log p(ν_s | event) − max_s' log p(ν_s' | event)],

and the draws combine into one cost of c by a soft minimum at temperature T,

    cost(c) = −2T log (1/S) Σ_s exp(−[χ²_s(c) − 2λ Δlog p_s] / 2T)      (T → 0: min over s).

T = 1, λ = 0 is the marginal likelihood of c under the posterior (the draws
are samples of p(ν | event), so their mean of exp(−χ²/2) integrates over ν);
T = 0 picks the single best draw jointly with the jets, λ pulling it towards
the flow's most probable solutions. The log-density is taken relative to the
event's best draw, a per-event constant that changes no choice but makes a
posterior of one point give exactly the χ² of that point. λ and T are not
fixed: they follow the model's quality and are calibrated, like the σ of the
χ², on calibration events (:func:`nuanalysis.assignment.calibrate_posterior_rule`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuanalysis.errors import InputError
from nuanalysis.neutrino_result import NeutrinoResult

DRAWS_KEY = "posterior_draws"
"""``extras`` key: (n, S, n_nu, 3) float32 posterior draws (px, py, pz) in GeV."""

LOG_PROB_KEY = "posterior_log_prob"
"""``extras`` key: (n, S) float32 flow log-density of each draw."""

LOG_PROB_WEIGHTS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0)
"""Candidate λ scanned by the calibration (docs/methods.md, "Posterior draws": the best λ
ranged over 0–0.3 by model)."""

TEMPERATURES = (0.0, 1.0, 3.0)
"""Candidate T scanned by the calibration."""


@dataclass(frozen=True)
class PosteriorRule:
    """λ (``log_prob_weight``) and T (``temperature``) of the soft minimum over draws."""

    log_prob_weight: float = 0.0
    temperature: float = 0.0

    def __post_init__(self) -> None:
        for name in ("log_prob_weight", "temperature"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"the posterior rule's {name} must be ≥ 0, got {value}")

    @property
    def label(self) -> str:
        return f"λ={self.log_prob_weight:g} T={self.temperature:g}"


RULES = tuple(PosteriorRule(w, t) for t in TEMPERATURES for w in LOG_PROB_WEIGHTS)
"""The rules scanned by the calibration."""


def soft_minimum(costs: np.ndarray, temperature: float, axis: int) -> np.ndarray:
    """−2T log mean exp(−costs / 2T) along ``axis``; the minimum for T = 0."""
    if temperature == 0:
        return costs.min(axis=axis)
    scaled = -costs / (2.0 * temperature)
    top = scaled.max(axis=axis, keepdims=True)
    log_mean = np.log(np.exp(scaled - top).mean(axis=axis)) + np.squeeze(top, axis=axis)
    return -2.0 * temperature * log_mean


@dataclass
class Posterior:
    """``draws`` (n, S, n_nu, 3) and their ``log_prob`` (n, S) for n events."""

    draws: np.ndarray
    log_prob: np.ndarray

    def __post_init__(self) -> None:
        self.draws = np.asarray(self.draws, dtype=np.float64)
        self.log_prob = np.asarray(self.log_prob, dtype=np.float64)
        if self.draws.ndim != 4 or self.draws.shape[3] != 3:
            raise InputError(f"posterior draws must be (n, S, n_nu, 3), got {self.draws.shape}")
        if self.log_prob.shape != self.draws.shape[:2]:
            raise InputError(
                f"posterior log_prob must be (n, S) = {self.draws.shape[:2]}, "
                f"got {self.log_prob.shape}"
            )
        if not (np.isfinite(self.draws).all() and np.isfinite(self.log_prob).all()):
            raise InputError("posterior draws and log-densities must be finite")

    def __len__(self) -> int:
        return self.draws.shape[0]

    @classmethod
    def from_result(cls, result: NeutrinoResult) -> Posterior | None:
        """The posterior a method (``flow-posterior``) kept in its extras; None if it kept none."""
        if DRAWS_KEY not in result.extras:
            return None
        return cls(result.extras[DRAWS_KEY], result.extras[LOG_PROB_KEY])

    @classmethod
    def point(cls, momenta: np.ndarray) -> Posterior:
        """A posterior concentrated on ``momenta`` (n, n_nu, 3): one draw, log p = 0."""
        momenta = np.asarray(momenta, dtype=np.float64)
        return cls(momenta[:, None], np.zeros((len(momenta), 1)))

    def penalty(self, rule: PosteriorRule) -> np.ndarray:
        """(n, S) −2λ [log p(ν_s) − max_s log p], added to each draw's χ² (≥ 0)."""
        relative = self.log_prob - self.log_prob.max(axis=1, keepdims=True)
        return -2.0 * rule.log_prob_weight * relative

    def select(self, keep: np.ndarray | slice) -> Posterior:
        return Posterior(self.draws[keep], self.log_prob[keep])
