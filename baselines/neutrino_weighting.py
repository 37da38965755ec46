"""Neutrino Weighting for dilepton tt̄ (ATLAS AnalysisTop / NeutrinoWeighter; ν²-Flows talk).

For every trial pseudorapidity η of a neutrino, the W and top mass
constraints fix its transverse momentum; each pair of solutions (ν, ν̄) is
weighted by how well ν⊥ + ν̄⊥ reproduces the measured MET, and the highest
weight wins (docs/methods.md, "Baselines as analysts configure them").

One neutrino per trial η (derivation implemented by :func:`neutrino_solutions`)
---------------------------------------------------------------------
The neutrino is massless with p_z = p_T sinh η and E = p_T cosh η. For any
four-vector X, X·ν = E_X E − p_X·p = p_T (E_X cosh η − p_zX sinh η) −
(p_xX p_x + p_yX p_y) = p_T A_X − (p_xX p_x + p_yX p_y), with
A_X = E_X cosh η − p_zX sinh η. With the lepton ℓ and B = b + ℓ the two
constraints (ℓ + ν)² = m_W² and (B + ν)² = m_t² read

    ℓ_x p_x + ℓ_y p_y = A_ℓ p_T − k_ℓ,    k_ℓ = (m_W² − m_ℓ²) / 2
    B_x p_x + B_y p_y = A_B p_T − k_t,    k_t = (m_t² − m_B²) / 2,

linear in (p_x, p_y) for a given p_T. With D = ℓ_x B_y − ℓ_y B_x
= ℓ_x b_y − ℓ_y b_x (zero only for a lepton and b-jet collinear in the
transverse plane: no solution),

    p_x = a_x p_T + c_x,  a_x = (B_y A_ℓ − ℓ_y A_B) / D,  c_x = (ℓ_y k_t − B_y k_ℓ) / D
    p_y = a_y p_T + c_y,  a_y = (ℓ_x A_B − B_x A_ℓ) / D,  c_y = (B_x k_ℓ − ℓ_x k_t) / D,

and p_T² = p_x² + p_y² closes the system with a quadratic in p_T,

    (a_x² + a_y² − 1) p_T² + 2 (a_x c_x + a_y c_y) p_T + (c_x² + c_y²) = 0,

whose real roots with p_T > 0 are the 0, 1 or 2 solutions (the usual
"quadratic in p_y" of NeutrinoWeighter, parametrised by p_T instead, which
avoids its division by ℓ_x).

Weight and choice
-----------------
w = exp(−Δ_x² / 2σ_x²) · exp(−Δ_y² / 2σ_y²), Δ = ν⊥ + ν̄⊥ − MET. Both b ↔ ℓ
pairings, every m_t (independently for t and t̄) and every smearing of the
b-jets are tried; a candidate needs E_t, E_t̄ > 0, m_tt > ``min_mtt`` and
w > ``min_weight``.

Cost: the solutions of each neutrino depend on its own η, lepton, b-jet and
m_t only, so they are computed once per (smearing, lepton, b, m_t, η) —
not per (η, η̄) pair. Maximising w is minimising the σ-scaled distance
d² = |ν̄'⊥ − (MET' − ν'⊥)|² (primes: divided by σ), a nearest-neighbour
query of the target MET' − ν'⊥ among the ν̄ points. The ν̄ points are
bucketed along p_x' (counting sort) and only buckets closer than the best d
found so far (over the whole event; initially the weight threshold) are
visited, so the maximum is exact while almost all pairs are never looked at.

Smearing is reproducible: the normal numbers come from a counter-based hash
of (seed, global event index, smearing, jet), independent of chunking and
of the number of threads.

Against the ATLAS NeutrinoWeighter
----------------------------------
The public NeutrinoWeighter.cxx in its analysis configuration (docs/methods.md)
solves the same equations with the same η grid, m_W = 80.4 GeV, m_t scan
172.0 … 174.0 by 0.25 for each top, 15 % b-jet smearing propagated to the MET,
σ = 0.2 |MET_i| and cuts (w > 1e-6, m_tt > 300 GeV, E_t, E_t̄ > 0). Its
quadratic in p_y keeps both roots without checking the sign of p_T, but no
root with p_T < 0 exists: it would be ν = −ν′ with ν′ a physical momentum,
so 2 ℓ·ν = −2 ℓ·ν′ ≤ 0, while the W constraint needs 2 ℓ·ν = m_W² − m_ℓ² > 0.
Both codes have the same solutions; they differ in:

- the smearings: NeutrinoWeighter draws 50 new b-jet smearings for every
  (m_t, m_t̄) pair, 81 × 50 = 4050 jet configurations per event, each tried at
  one mass pair; we draw 50 and try each at all 81 pairs (the same number of
  weight evaluations, 81 times fewer jet configurations);
- the b-jet mass: each jet's own (``bJet->M()``; ``b_mass=None`` here) instead
  of 4.5 GeV; σ_MET has no floor there.

Measured on the first 1274 events of samples/eval_dilepton.root
(``benchmarks/nw_atlas_comparison.py``, one thread): our preset solves
89.8 ± 0.8 %; the jet masses 89.7 %, no σ floor 89.8 %, no m_tt cut 89.8 %, an
m_t scan 170.5 … 174.5 by 0.5 90.1 %, Gaussian η draws 90.1 %; 4050 smearings
per event solve 93.6 %, NeutrinoWeighter's figure (issue 13: 93.6 % against our
90.9 % on its events). The gap is the number of jet configurations. We keep 50:
115 of the 130 events our preset fails have b-tag candidates that are not the
b-jets of the tops (truth-matched b-jets instead give 92.5 %), so what more
smearing finds there is mostly a fit of the wrong jets — the 48 events that
4050 smearings rescue (39 with wrong candidates) have an m_tt resolution
(width68) of 196 GeV against 98 GeV on the events solved with 50 — at 77 times
the cost (7.6 against 590 events per CPU second on 300 events). ``n_smearings=4050``
reproduces NeutrinoWeighter's valid fraction where that is the figure to compare.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace

import numba
import numpy as np

from baselines.constants import (
    B_MASS,
    B_MASS_RANGE,
    MAX_COLLISION_ENERGY,
    TOP_MASS,
    W_MASS_NW,
    W_MASS_RANGE,
)
from baselines.guards import bounded

ETA_SAMPLINGS = ("grid", "gaussian")
KERNEL_EVENTS = 32
"""Events per kernel call: a Ctrl-C is handled when a call returns (a kernel cannot be
stopped inside): 0.04 CPU seconds with the analysis preset (about 900 events per CPU
second), 3 s with the NeutrinoWeighter's 4050 smearings. Each event is seeded by its own
index, so the cut changes no result, and it costs no measurable time."""
MAX_TRIALS = 10**9
"""Most trial solutions per event a configuration may ask for (smearing passes × η pairs ×
m_t pairs, :meth:`NeutrinoWeightingConfig.trials_per_event`): above the ATLAS
NeutrinoWeighter's 4050 smearings (8.5·10⁸), the analysis preset's 1.1·10⁷ far below."""
MAX_ETA = 10.0
"""Largest |η| a trial neutrino may have (and bound of the Gaussian's mean and width)."""
MAX_MASS_OFFSET = 50.0
"""Largest |offset| (GeV) of a scanned top mass from the central one."""


@dataclass(frozen=True)
class NeutrinoWeightingConfig:
    """One Neutrino Weighting configuration (defaults: the ``analysis`` preset).

    * η sampling: ``eta_sampling="grid"``: ``eta_min`` … ``eta_max`` in steps
      of ``eta_step`` (AnalysisTop: −5 … 5 by 0.2, 51 per ν); ``"gaussian"``:
      ``n_eta_draws`` lepton-correlated draws per ν, mean
      ``eta_mean_slope``·η_ℓ + ``eta_mean_offset``, width ``eta_width``
      (NeutrinoWeighter: 200, 0.7, −0.1, 1.14), seeded like the smearing.
    * ``top_mass_offsets``: m_t values scanned, independently for t and t̄, as
      offsets from the top mass (``TOP_MASS`` unless the caller gives per-event
      masses). Default −0.5 … +1.5 by 0.25, i.e. 172.0 … 174.0 (NeutrinoWeighter).
    * ``w_mass`` (:data:`~baselines.constants.W_MASS_NW`), ``b_mass``
      (:data:`~baselines.constants.B_MASS`; ``None``: each jet's own mass).
    * ``n_smearings`` Gaussian smearings of both b-jets' pT by
      ``smearing_fraction`` (50, 15 %) besides the unsmeared pass; the change of
      the b-jets' p_x, p_y is subtracted from the MET. ``smearing_seed`` seeds them.
    * MET resolution in the weight: σ_i = ``met_sigma_fraction`` · |MET_i| per
      component (0.2), floored at ``met_sigma_floor`` GeV (1) so a vanishing
      component does not make the weight singular; ``met_sigma_fraction=None``
      uses a fixed ``met_sigma`` GeV (10) for both. σ comes from the measured
      (unsmeared) MET.
    * cuts: ``min_weight`` (1e-6) and ``min_mtt`` (300 GeV); E_t, E_t̄ > 0 always.

    Every value must lie in its physical range (masses in
    :data:`~baselines.constants.W_MASS_RANGE` / :data:`~baselines.constants.B_MASS_RANGE`,
    |η| ≤ :data:`MAX_ETA`, …) and the trials per event stay below :data:`MAX_TRIALS`.
    """

    eta_sampling: str = "grid"
    eta_min: float = -5.0
    eta_max: float = 5.0
    eta_step: float = 0.2
    n_eta_draws: int = 200
    eta_mean_slope: float = 0.7
    eta_mean_offset: float = -0.1
    eta_width: float = 1.14
    top_mass_offsets: tuple[float, ...] = tuple(-0.5 + 0.25 * k for k in range(9))
    w_mass: float = W_MASS_NW
    b_mass: float | None = B_MASS
    n_smearings: int = 50
    smearing_fraction: float = 0.15
    smearing_seed: int = 0
    met_sigma_fraction: float | None = 0.2
    met_sigma: float = 10.0
    met_sigma_floor: float = 1.0
    min_weight: float = 1e-6
    min_mtt: float = 300.0

    def __post_init__(self) -> None:
        for name in ("n_eta_draws", "n_smearings", "smearing_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        for item in fields(self):
            values = np.atleast_1d(np.asarray(getattr(self, item.name), dtype=object))
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise ValueError(f"{item.name} must be finite, got {getattr(self, item.name)!r}")
        if self.eta_sampling not in ETA_SAMPLINGS:
            raise ValueError(
                f"eta_sampling must be one of {ETA_SAMPLINGS}, got {self.eta_sampling!r}"
            )
        if self.eta_sampling == "grid" and not (self.eta_step > 0 and self.eta_max >= self.eta_min):
            raise ValueError("the η grid needs eta_step > 0 and eta_max >= eta_min")
        if (
            self.eta_sampling == "grid"
            and self.eta_min < self.eta_max < self.eta_min + self.eta_step
        ):
            raise ValueError(
                "eta_step must be at most eta_max − eta_min: a longer step leaves a grid of "
                "one η, eta_min"
            )
        if self.eta_sampling == "gaussian" and not (self.n_eta_draws > 0 and self.eta_width > 0):
            raise ValueError("gaussian η sampling needs n_eta_draws > 0 and eta_width > 0")
        if len(self.top_mass_offsets) == 0:
            raise ValueError("top_mass_offsets needs at least one value")
        if self.n_smearings < 0 or self.smearing_fraction < 0:
            raise ValueError("n_smearings and smearing_fraction must be non-negative")
        if self.met_sigma_fraction is not None and not self.met_sigma_fraction > 0:
            raise ValueError("met_sigma_fraction must be positive (or None for a fixed σ)")
        if not (self.met_sigma > 0 and self.met_sigma_floor > 0):
            raise ValueError("met_sigma and met_sigma_floor must be positive")
        if not 0 < self.min_weight < 1:
            raise ValueError("min_weight must lie in (0, 1)")
        self._check_ranges()

    def _check_ranges(self) -> None:
        """Refuse values outside their physical range and configurations of unbounded work."""
        low, high = W_MASS_RANGE
        if not low <= self.w_mass <= high:
            raise ValueError(f"w_mass must lie between {low:g} and {high:g} GeV")
        low, high = B_MASS_RANGE
        if self.b_mass is not None and not low <= self.b_mass <= high:
            raise ValueError(f"b_mass must lie between {low:g} and {high:g} GeV, or be None")
        etas = (self.eta_min, self.eta_max, self.eta_mean_slope, self.eta_mean_offset)
        if max(abs(v) for v in etas) > MAX_ETA or self.eta_width > MAX_ETA:
            raise ValueError(f"the η settings must lie within ±{MAX_ETA:g}")
        if max(abs(offset) for offset in self.top_mass_offsets) > MAX_MASS_OFFSET:
            raise ValueError(f"top_mass_offsets must lie within ±{MAX_MASS_OFFSET:g} GeV")
        if self.smearing_fraction > 1:
            raise ValueError("smearing_fraction must be at most 1")
        largest_met = MAX_COLLISION_ENERGY / 2
        if max(self.met_sigma, self.met_sigma_floor) > largest_met:
            raise ValueError(f"met_sigma and met_sigma_floor must be at most {largest_met:g} GeV")
        if self.min_mtt > MAX_COLLISION_ENERGY:
            raise ValueError(f"min_mtt must be at most {MAX_COLLISION_ENERGY:g} GeV")
        if self.trials_per_event() > MAX_TRIALS:
            raise ValueError(
                f"{self.trials_per_event():.3g} trial solutions per event (smearings × η pairs"
                f" × m_t pairs) is more than {MAX_TRIALS:.0e}: use fewer"
            )

    def trials_per_event(self) -> int:
        """Trial solutions per event: (unsmeared + smeared passes) × η pairs × m_t pairs."""
        if self.eta_sampling == "gaussian":
            n_eta = self.n_eta_draws
        else:
            n_eta = math.floor((self.eta_max - self.eta_min) / self.eta_step + 1e-9) + 1
        return (self.n_smearings + 1) * n_eta**2 * len(self.top_mass_offsets) ** 2

    def eta_grid(self) -> np.ndarray:
        """The trial η values of the grid sampling."""
        n = math.floor((self.eta_max - self.eta_min) / self.eta_step + 1e-9) + 1
        return self.eta_min + self.eta_step * np.arange(n)


PRESETS = {
    "analysis": NeutrinoWeightingConfig(),
    "grid": NeutrinoWeightingConfig(
        top_mass_offsets=(0.0,), n_smearings=0, met_sigma_fraction=None, met_sigma=10.0
    ),
}
"""Named configurations: ``analysis`` (NeutrinoWeighter's analysis setup: m_t scan, 50
smearings, σ = 20 % of each MET component) and ``grid`` (one m_t, no smearing, σ = 10 GeV)."""


def preset(name: str, **overrides) -> NeutrinoWeightingConfig:
    """The preset ``name`` with fields replaced by ``overrides``."""
    if name not in PRESETS:
        raise ValueError(f"unknown Neutrino Weighting preset {name!r}; presets: {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


# --- counter-based normal numbers ---------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_ETA_STREAM = np.uint64(1 << 63)
"""Stream counter of the η draws (smearings use streams 1 … n_smearings)."""


@numba.njit(cache=True)
def _splitmix64(x):
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def counter_normal(seed, event, stream, index):
    """A standard normal number that is a pure function of its four counters (Box–Muller)."""
    key = _splitmix64(np.uint64(seed))
    key = _splitmix64(key ^ np.uint64(event))
    key = _splitmix64(key ^ np.uint64(stream))
    h1 = _splitmix64(key ^ np.uint64(index))
    h2 = _splitmix64(h1)
    u1 = (float(h1 >> np.uint64(11)) + 0.5) * 2.0**-53
    u2 = float(h2 >> np.uint64(11)) * 2.0**-53
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


# --- one neutrino ----------------------------------------------------------------------------


@numba.njit(cache=True)
def _slopes(lepton, combined, det, cosh_eta, sinh_eta):
    """(a_x, a_y) of one trial η (module docstring)."""
    a_l = lepton[3] * cosh_eta - lepton[2] * sinh_eta
    a_b = combined[3] * cosh_eta - combined[2] * sinh_eta
    return (combined[1] * a_l - lepton[1] * a_b) / det, (lepton[0] * a_b - combined[0] * a_l) / det


@numba.njit(cache=True)
def _offsets(lepton, combined, k_l, k_t, det):
    """(c_x, c_y) of one m_t: they do not depend on η (module docstring)."""
    return (lepton[1] * k_t - combined[1] * k_l) / det, (combined[0] * k_l - lepton[0] * k_t) / det


@numba.njit(cache=True)
def _roots(ax, ay, cx, cy, out):
    """Solutions (p_x, p_y, p_T) of the quadratic in p_T into ``out`` (2, 3); returns how many."""
    qa = ax * ax + ay * ay - 1.0
    qb = ax * cx + ay * cy
    qc = cx * cx + cy * cy
    disc = qb * qb - qa * qc
    if disc < 0.0:
        return 0
    root = math.sqrt(disc)
    q = -(qb + math.copysign(root, qb))  # numerically stable pair of roots
    if q == 0.0:
        return 0
    count = 0
    for k in range(2):
        if k == 0:
            if qa == 0.0:
                continue
            pt = q / qa
        else:
            if root == 0.0:  # double root, already taken
                break
            pt = qc / q
        if pt > 0.0 and math.isfinite(pt):
            out[count, 0] = ax * pt + cx
            out[count, 1] = ay * pt + cy
            out[count, 2] = pt
            count += 1
    return count


@numba.njit(cache=True)
def _pair_constants(lepton, b_jet, w_mass):
    """(B = b + ℓ, k_ℓ, m_B², D) of one lepton–b pair; D = 0 where there is no solution."""
    combined = lepton + b_jet
    m_l2 = lepton[3] ** 2 - lepton[0] ** 2 - lepton[1] ** 2 - lepton[2] ** 2
    m_b2 = combined[3] ** 2 - combined[0] ** 2 - combined[1] ** 2 - combined[2] ** 2
    k_l = 0.5 * (w_mass * w_mass - m_l2)
    det = lepton[0] * b_jet[1] - lepton[1] * b_jet[0]
    # (anti)parallel in the transverse plane: the linear system is singular
    if not abs(det) > 1e-12 * math.hypot(lepton[0], lepton[1]) * math.hypot(b_jet[0], b_jet[1]):
        det = 0.0
    return combined, k_l, m_b2, det


@numba.njit(cache=True)
def neutrino_solutions(lepton, b_jet, top_mass, w_mass, eta):
    """(k, 3) momenta (p_x, p_y, p_z) of the k ∈ {0, 1, 2} massless neutrinos with
    pseudorapidity ``eta`` solving (ℓ + ν)² = m_W² and (b + ℓ + ν)² = m_t²."""
    combined, k_l, m_b2, det = _pair_constants(lepton, b_jet, w_mass)
    if det == 0.0:
        return np.zeros((0, 3))
    out = np.zeros((2, 3))
    cosh_eta, sinh_eta = math.cosh(eta), math.sinh(eta)
    ax, ay = _slopes(lepton, combined, det, cosh_eta, sinh_eta)
    cx, cy = _offsets(lepton, combined, k_l, 0.5 * (top_mass * top_mass - m_b2), det)
    count = _roots(ax, ay, cx, cy, out)
    result = np.zeros((count, 3))
    for k in range(count):
        result[k, 0] = out[k, 0]
        result[k, 1] = out[k, 1]
        result[k, 2] = out[k, 2] * sinh_eta
    return result


@numba.njit(cache=True)
def _fill_solutions(lepton, b_jet, top_masses, w_mass, cosh_eta, sinh_eta, offsets, points):
    """All solutions of one lepton–b pair over η and m_t into ``points`` (cap, 6):
    (p_x, p_y, p_z, E, η index, m_t index); returns the count. ``offsets`` (n_mt, 2) is scratch."""
    combined, k_l, m_b2, det = _pair_constants(lepton, b_jet, w_mass)
    if det == 0.0:
        return 0
    n_mt = top_masses.shape[0]
    for m in range(n_mt):
        k_t = 0.5 * (top_masses[m] * top_masses[m] - m_b2)
        offsets[m, 0], offsets[m, 1] = _offsets(lepton, combined, k_l, k_t, det)
    out = np.empty((2, 3))
    count = 0
    for e in range(cosh_eta.shape[0]):
        ax, ay = _slopes(lepton, combined, det, cosh_eta[e], sinh_eta[e])
        for m in range(n_mt):
            found = _roots(ax, ay, offsets[m, 0], offsets[m, 1], out)
            for k in range(found):
                points[count, 0] = out[k, 0]
                points[count, 1] = out[k, 1]
                points[count, 2] = out[k, 2] * sinh_eta[e]
                points[count, 3] = out[k, 2] * cosh_eta[e]
                points[count, 4] = e
                points[count, 5] = m
                count += 1
    return count


# --- the event loop --------------------------------------------------------------------------


@numba.njit(cache=True)
def _bucket(points, count, inv_sx, order, starts):
    """Counting sort of the first ``count`` points along p_x/σ_x.

    Returns (u_min, width, n_buckets).
    """
    u_min = np.inf
    u_max = -np.inf
    for j in range(count):
        u = points[j, 0] * inv_sx
        u_min = min(u_min, u)
        u_max = max(u_max, u)
    n_buckets = count
    width = (u_max - u_min) / n_buckets
    if not width > 0.0:
        width = 1.0
    starts[: n_buckets + 2] = 0
    for j in range(count):
        slot = min(int((points[j, 0] * inv_sx - u_min) / width), n_buckets - 1)
        starts[slot + 2] += 1
    for b in range(2, n_buckets + 2):
        starts[b] += starts[b - 1]
    for j in range(count):
        slot = min(int((points[j, 0] * inv_sx - u_min) / width), n_buckets - 1)
        order[starts[slot + 1]] = j
        starts[slot + 1] += 1
    return u_min, width, n_buckets  # bucket b holds order[starts[b] : starts[b + 1]]


@numba.njit(cache=True)
def _mtt_ok(top_side, nu, antitop_side, nubar, min_mtt2):
    """E_t, E_t̄ > 0 and m_tt² > min_mtt² for t = (b + ℓ⁺) + ν, t̄ = (b̄ + ℓ⁻) + ν̄."""
    e_t = top_side[3] + nu[3]
    e_tbar = antitop_side[3] + nubar[3]
    if not (e_t > 0.0 and e_tbar > 0.0):
        return False
    px = top_side[0] + nu[0] + antitop_side[0] + nubar[0]
    py = top_side[1] + nu[1] + antitop_side[1] + nubar[1]
    pz = top_side[2] + nu[2] + antitop_side[2] + nubar[2]
    e = e_t + e_tbar
    return e * e - px * px - py * py - pz * pz > min_mtt2


@numba.njit(cache=True)
def _smeared(jet, factor):
    """``jet`` with its momentum scaled by ``factor`` and its mass kept."""
    m2 = max(jet[3] ** 2 - jet[0] ** 2 - jet[1] ** 2 - jet[2] ** 2, 0.0)
    out = jet * factor
    out[3] = math.sqrt(out[0] ** 2 + out[1] ** 2 + out[2] ** 2 + m2)
    return out


@numba.njit(cache=True)
def _weigh_event(
    b_jets,
    leptons,
    met,
    sigma,
    top_masses,
    w_masses,
    cosh_eta,
    sinh_eta,
    n_smearings,
    smearing_fraction,
    seed,
    event_index,
    max_d2,
    min_mtt2,
    result,
):
    """Best (ν, ν̄) of one event; fills ``result`` (14,) and returns True if one was found.

    ``result``: ν p_x,p_y,p_z, ν̄ p_x,p_y,p_z, weight, pairing, η index ν, η index ν̄,
    m_t index t, m_t index t̄, smearing index, d².
    ``leptons`` is (ℓ⁺, ℓ⁻); ``cosh_eta``/``sinh_eta`` are (2, n_eta) per neutrino;
    ``top_masses`` (2, n_mt) per top; ``w_masses`` (2,).
    """
    n_mt = top_masses.shape[1]
    cap = 2 * n_mt * cosh_eta.shape[1]
    points = np.empty((4, cap, 6))  # combo 2·lepton + b
    counts = np.zeros(4, dtype=np.int64)
    order = np.empty(cap, dtype=np.int64)
    starts = np.empty(cap + 2, dtype=np.int64)
    sides = np.empty((4, 4))  # b + ℓ per combo
    offsets = np.empty((n_mt, 2))
    inv_sx = 1.0 / sigma[0]
    inv_sy = 1.0 / sigma[1]
    best = max_d2
    found = False
    for s in range(n_smearings + 1):
        if s == 0:
            f0 = 1.0
            f1 = 1.0
        else:
            f0 = 1.0 + smearing_fraction * counter_normal(seed, event_index, s, 0)
            f1 = 1.0 + smearing_fraction * counter_normal(seed, event_index, s, 1)
            if not (f0 > 0.0 and f1 > 0.0):
                continue
        b0 = _smeared(b_jets[0], f0)
        b1 = _smeared(b_jets[1], f1)
        met_x = met[0] - (b0[0] - b_jets[0, 0]) - (b1[0] - b_jets[1, 0])
        met_y = met[1] - (b0[1] - b_jets[0, 1]) - (b1[1] - b_jets[1, 1])
        for lep in range(2):
            for jet in range(2):
                combo = 2 * lep + jet
                b = b0 if jet == 0 else b1
                counts[combo] = _fill_solutions(
                    leptons[lep],
                    b,
                    top_masses[lep],
                    w_masses[lep],
                    cosh_eta[lep],
                    sinh_eta[lep],
                    offsets,
                    points[combo],
                )
                sides[combo] = leptons[lep] + b
        target_u = met_x * inv_sx
        target_v = met_y * inv_sy
        for pairing in range(2):
            p_combo = pairing  # ℓ⁺ with candidate `pairing`
            q_combo = 3 - pairing  # ℓ⁻ with the other candidate
            n_p = counts[p_combo]
            n_q = counts[q_combo]
            if n_p == 0 or n_q == 0:
                continue
            nu_points = points[p_combo]
            nubar_points = points[q_combo]
            u_min, width, n_buckets = _bucket(nubar_points, n_q, inv_sx, order, starts)
            for i in range(n_p):
                tu = target_u - nu_points[i, 0] * inv_sx
                tv = target_v - nu_points[i, 1] * inv_sy
                centre = int((tu - u_min) // width)
                centre = min(max(centre, 0), n_buckets - 1)
                # visit buckets outwards from the target while they can still beat `best`
                for direction in range(2):
                    bucket = centre if direction == 0 else centre - 1
                    while 0 <= bucket < n_buckets:
                        if direction == 0:
                            gap = u_min + bucket * width - tu
                        else:
                            gap = tu - (u_min + (bucket + 1) * width)
                        if gap > 0.0 and gap * gap >= best:
                            break
                        for slot in range(starts[bucket], starts[bucket + 1]):
                            j = order[slot]
                            du = nubar_points[j, 0] * inv_sx - tu
                            d2 = du * du
                            if d2 >= best:
                                continue
                            dv = nubar_points[j, 1] * inv_sy - tv
                            d2 += dv * dv
                            if d2 >= best:
                                continue
                            if not _mtt_ok(
                                sides[p_combo],
                                nu_points[i],
                                sides[q_combo],
                                nubar_points[j],
                                min_mtt2,
                            ):
                                continue
                            best = d2
                            found = True
                            for c in range(3):
                                result[c] = nu_points[i, c]
                                result[3 + c] = nubar_points[j, c]
                            result[7] = pairing
                            result[8] = nu_points[i, 4]
                            result[9] = nubar_points[j, 4]
                            result[10] = nu_points[i, 5]
                            result[11] = nubar_points[j, 5]
                            result[12] = s
                        bucket += 1 if direction == 0 else -1
    result[13] = best
    result[6] = math.exp(-0.5 * best) if found else 0.0
    return found


@numba.njit(parallel=True, cache=True)
def _weigh_events(
    b_jets,
    leptons,
    met,
    has_two,
    sigma,
    top_masses,
    w_masses,
    cosh_eta,
    sinh_eta,
    n_smearings,
    smearing_fraction,
    seed,
    first_event_index,
    max_d2,
    min_mtt2,
):
    n = met.shape[0]
    results = np.zeros((n, 14))
    valid = np.zeros(n, dtype=np.bool_)
    eta_stride = 1 if cosh_eta.shape[0] > 1 else 0  # one η set per event, or one for all
    for i in numba.prange(n):
        if not has_two[i]:
            continue
        e = i * eta_stride
        valid[i] = _weigh_event(
            b_jets[i],
            leptons[i],
            met[i],
            sigma[i],
            top_masses[i],
            w_masses[i],
            cosh_eta[e],
            sinh_eta[e],
            n_smearings,
            smearing_fraction,
            seed,
            first_event_index + i,
            max_d2,
            min_mtt2,
            results[i],
        )
    return results, valid


@numba.njit(parallel=True, cache=True)
def _gaussian_etas(lepton_eta, n_draws, slope, offset, width, seed, first_event_index):
    """(n, 2, n_draws) lepton-correlated η draws of each neutrino (ν: ℓ⁺, ν̄: ℓ⁻)."""
    n = lepton_eta.shape[0]
    etas = np.empty((n, 2, n_draws))
    for i in numba.prange(n):
        for nu in range(2):
            mean = slope * lepton_eta[i, nu] + offset
            for k in range(n_draws):
                z = counter_normal(seed, first_event_index + i, _ETA_STREAM ^ np.uint64(nu), k)
                etas[i, nu, k] = mean + width * z
    return etas


def _pseudorapidity(p4: np.ndarray) -> np.ndarray:
    pt = np.hypot(p4[..., 0], p4[..., 1])
    return np.arcsinh(np.divide(p4[..., 2], pt, out=np.zeros_like(pt), where=pt > 0))


def neutrino_weighting(
    b_jets: np.ndarray,
    lepton_pos: np.ndarray,
    lepton_neg: np.ndarray,
    met: np.ndarray,
    has_two: np.ndarray,
    config: NeutrinoWeightingConfig = PRESETS["analysis"],
    top_mass: np.ndarray | float = TOP_MASS,
    w_mass: np.ndarray | float | None = None,
    first_event_index: int = 0,
    eta_values: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Neutrino Weighting of ``n`` dilepton events.

    ``b_jets`` (n, 2, 4): the two b candidates (masses as they should be used);
    ``lepton_pos``/``lepton_neg`` (n, 4); ``met`` (n, 2); ``has_two`` (n,) bool.
    ``top_mass``: the central m_t, a number, (n,) or (n, 2) per (t, t̄); the
    config's offsets are scanned around it. ``w_mass``: None (the config's), a
    number, (n,) or (n, 2). ``first_event_index``: global index of event 0
    (seeds the smearing and η draws per event, independent of chunking).
    ``eta_values``: optional (n, 2, k) trial η of (ν, ν̄) per event, replacing
    the config's η sampling (e.g. the true η in closure tests).

    Returns ``momenta`` (n, 2, 3) (ν, ν̄; zero where not valid), ``valid``,
    ``weight``, ``pairing`` (0: candidate 0 with ℓ⁺, 1: swapped, −1: none),
    ``eta`` (n, 2), ``top_mass`` (n, 2) of the chosen (t, t̄), ``smearing``
    (n,) (0 = unsmeared, −1 none).
    """
    n = len(met)
    central = _per_event(top_mass, n, "top_mass")
    w_masses = _per_event(config.w_mass if w_mass is None else w_mass, n, "w_mass")
    offsets = np.asarray(config.top_mass_offsets, dtype=np.float64)
    top_masses = central[:, :, None] + offsets[None, None, :]
    if np.any(top_masses <= 0):
        raise ValueError("the scanned top masses must be positive")
    met = np.asarray(met, dtype=np.float64)
    if config.met_sigma_fraction is None:
        sigma = np.full((n, 2), config.met_sigma)
    else:
        sigma = np.maximum(config.met_sigma_fraction * np.abs(met), config.met_sigma_floor)
    leptons = np.stack([lepton_pos, lepton_neg], axis=1).astype(np.float64)
    b_jets = np.asarray(b_jets, dtype=np.float64)
    # rows not finite or beyond the collision energy are never passed to the kernel
    usable = np.asarray(has_two, dtype=bool) & bounded(b_jets).all(axis=(1, 2))
    usable &= bounded(leptons).all(axis=(1, 2)) & bounded(met).all(axis=1)
    b_jets = np.where(usable[:, None, None], b_jets, 0.0)
    leptons = np.where(usable[:, None, None], leptons, 0.0)
    met = np.where(usable[:, None], met, 0.0)
    sigma = np.where(usable[:, None], sigma, 1.0)
    seed = int(config.smearing_seed) % 2**64
    if eta_values is not None:
        etas = np.asarray(eta_values, dtype=np.float64)
        if etas.ndim != 3 or etas.shape[:2] != (n, 2) or etas.shape[2] == 0:
            raise ValueError(f"eta_values must have shape ({n}, 2, k), got {etas.shape}")
        if not np.isfinite(etas).all():
            raise ValueError("eta_values must be finite")
    elif config.eta_sampling == "grid":
        etas = np.broadcast_to(config.eta_grid(), (1, 2, len(config.eta_grid())))
    else:
        etas = _gaussian_etas(
            _pseudorapidity(leptons),
            config.n_eta_draws,
            config.eta_mean_slope,
            config.eta_mean_offset,
            config.eta_width,
            np.uint64(seed),
            int(first_event_index),
        )
    per_event_eta = etas.shape[0] > 1
    inputs = [np.ascontiguousarray(a) for a in (b_jets, leptons, met, usable, sigma, top_masses)]
    inputs.append(np.ascontiguousarray(w_masses))
    cosh_eta, sinh_eta = np.ascontiguousarray(np.cosh(etas)), np.ascontiguousarray(np.sinh(etas))
    blocks = []
    for start in range(0, n or 1, KERNEL_EVENTS):
        block = slice(start, start + KERNEL_EVENTS)
        eta_block = block if per_event_eta else slice(None)
        blocks.append(
            _weigh_events(
                *(a[block] for a in inputs),
                cosh_eta[eta_block],
                sinh_eta[eta_block],
                int(config.n_smearings),
                float(config.smearing_fraction),
                np.uint64(seed),
                int(first_event_index) + start,
                -2.0 * math.log(config.min_weight),
                config.min_mtt**2 if config.min_mtt > 0 else -np.inf,  # no cut for min_mtt <= 0
            )
        )
    results = np.concatenate([r for r, _ in blocks])
    valid = np.concatenate([v for _, v in blocks])
    rows = np.arange(n)
    eta_index = results[:, 8:10].astype(np.int64)
    mt_index = results[:, 10:12].astype(np.int64)
    eta_rows = rows if per_event_eta else np.zeros(n, dtype=np.int64)
    chosen_eta = np.stack([etas[eta_rows, k, eta_index[:, k]] for k in range(2)], axis=1)
    chosen_mt = np.stack([top_masses[rows, k, mt_index[:, k]] for k in range(2)], axis=1)
    return {
        "momenta": np.where(valid[:, None, None], results[:, :6].reshape(n, 2, 3), 0.0),
        "valid": valid,
        "weight": np.where(valid, results[:, 6], 0.0),
        "pairing": np.where(valid, results[:, 7].astype(np.int64), -1),
        "eta": np.where(valid[:, None], chosen_eta, 0.0),
        "top_mass": np.where(valid[:, None], chosen_mt, 0.0),
        "smearing": np.where(valid, results[:, 12].astype(np.int64), -1),
    }


def _per_event(value, n: int, name: str) -> np.ndarray:
    """(n, 2) float64 from a number, (n,) or (n, 2) values; positive and finite."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    try:
        array = np.broadcast_to(array, (n, 2)).copy()
    except ValueError:
        raise ValueError(
            f"{name} must be a number, {n} values or ({n}, 2) values; got shape {np.shape(value)}"
        ) from None
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{name} must be positive and finite")
    return array
