"""The ``nuanalysis masscan`` study: top-mass templates, calibration slope and template fit.

Inputs are dilepton samples generated at several true top masses m_t (the
mass read from each file's generation record, :func:`sample_mass`). Per
method, one entry per event of a *top-mass observable*:

* ``m(bℓν)``, the mean of the two reconstructed top masses, ℓ⁺ + b + ν and
  ℓ⁻ + b̄ + ν̄, with the method's neutrinos (window :data:`MBLNU_WINDOW`);
* ``m_bℓ`` (row :data:`MBL`), the neutrino-free observable of dilepton m_t
  measurements: the mean of the two m_bℓ (window :data:`MBL_WINDOW`).

b ↔ lepton pairing: the pairing of lowest mean m_bℓ, as in the ATLAS dilepton
m_t measurement (ATLAS, Phys. Lett. B 761 (2016) 350, §5,
https://arxiv.org/abs/1606.02179). It assumes no top mass, so it carries no
m_t prior into the observable, and it is the same for every method; a method
that solved for its own pairing (``nw``, ``ellipse``: ``extras["b_pairing"]``)
keeps it, since its neutrinos belong to it. With truth neutrinos on samples at
166, 172.5 and 179 GeV (800 events each) the slope of the m(bℓν) mean was
0.61 with this pairing, 0.59 with the m_t = 172.5 GeV χ² pairing of
:func:`nuanalysis.observables.top_mass_pairing`, 0.61 with equal top masses
(±0.07 each); the parton-level b gives 0.97 and the matched b-jets 0.85: the
jets, not the neutrinos, cost most of the slope of truth-ν.

Oversampled templates: a method keeping posterior draws (``flow-posterior``,
:mod:`nuanalysis.posterior`) enters with every draw at weight w/S
(:mod:`nuanalysis.oversampling`), so a template still sums to the number of
(weighted) events; the variance of a bin is Σ_i f_ib², f_ib the weight event i
puts into bin b (Σ w² for one point per event). Per-draw Σ (w/S)² would
understate it: the draws of one event are not independent events.

Figures per method:

1. *slope*: the weighted mean of the observable in its window on all events of
   each sample against the true m_t, a straight-line fit (uncertainty of each
   mean from the spread of the events, a ratio estimator when draws are
   fractional), and its ratio to the truth-ν slope (uncertainties combined as
   independent: the samples are the same, so this overstates the ratio's error);
2. *template fit*: templates from one half of every sample (even
   ``source_event``, so re-smeared copies stay together; even entries for files
   without it) and pseudo-data from the other half (:func:`template_halves`).
   Template interpolation: per bin, a polynomial in m_t (linear by default,
   quadratic if asked) fitted by unweighted least squares to the normalised
   templates of all masses — a linear operation, so the interpolated shape stays
   normalised to one; over a few GeV the dependence is close to linear, and a
   quadratic through three noisy templates follows their noise. The likelihood
   is a binned Poisson likelihood of the shape (expected counts the
   interpolated shape times the pseudo-data's count in the window, so only the
   shape measures m_t) with each bin's expectation scaled by
   a nuisance β_b constrained by the template's own statistical uncertainty r_b
   (Barlow–Beeston "lite", one nuisance per bin, profiled in closed form: R. J.
   Barlow, C. Beeston, Comput. Phys. Commun. 77 (1993) 219; J. S. Conway,
   https://arxiv.org/abs/1103.0354, eq. 14). It matters where templates and
   pseudo-data are of similar size, as here. The fitted m_t is the minimum of
   −2 ln L on a fine grid (refined by a parabola); its statistical uncertainty
   is the standard deviation of the fits to bootstrap replicas of the
   pseudo-data (Poisson(1) weights per event, valid for oversampled pseudo-data
   too, whose bins are correlated; every method gets the same replicas, so that
   methods compare on the same fluctuations), and the likelihood's
   Δ(−2 ln L) = 1 width is kept beside it (for oversampled pseudo-data it is not
   a valid error: measured 1.5–2× the bootstrap's). Scaled to N events:
   σ √(n / N), n the selected events of the pseudo-data half (failures and
   events outside the window included: they are lost precision);
3. *calibration*: the fitted m_t of every pseudo-data sample against its true
   m_t, a straight line of slope k, and the fit and σ calibrated through it,
   (m̂ − a)/k and σ/k — what an analysis quotes. Templates of finite size
   shrink fits towards the templates' mean mass: their statistical noise adds
   a spurious m_t dependence to each bin, which steepens the likelihood
   (σ too small) by as much as it flattens the response (k < 1): the noise's
   Fisher information per event is about B / (N_template Σ_k (m_k − m̄)²) for
   B bins, hence the default :data:`BIN_WIDTH`. Measured: with two samples
   2 GeV apart, 3000 events per template half and 5 GeV bins, m_bℓ's σ was
   0.25 GeV where the noise alone predicts 0.27; on toys (Gaussian of width
   20 GeV moving by 0.8 m_t, masses 169–176 GeV, 600 events per template half
   and pseudo-data, 20 trials) 5 GeV bins gave k = 0.59 and σ 0.86 GeV against
   a spread of the fits of 1.01, 10 GeV bins k = 0.78 and σ 0.96 against 1.00
   (ideal 1.02). σ/k, noisier through k, errs the other way (1.32 there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.constants import TOP_MASS
from nuanalysis.candidates import b_jet_candidates
from nuanalysis.errors import InputError
from nuanalysis.kinematics import mass, massless_from_momentum
from nuanalysis.methods.registry import NeutrinoResult, reference_method
from nuanalysis.observables import PAIRING_KEYS
from nuanalysis.oversampling import event_fractions
from nuanalysis.padded import PaddedEvents
from nuanalysis.posterior import Posterior

MBLNU_WINDOW = (120.0, 230.0)
"""m(bℓν) window in GeV (ν²-Flows talk, top-mass slide)."""

MBL_WINDOW = (30.0, 170.0)
"""m_bℓ window in GeV."""

BIN_WIDTH = 10.0
"""Template bin width in GeV: wide enough that the templates' noise does not pass for m_t
dependence (module docstring, calibration)."""

DRAWS = 32
"""Posterior draws per event of the oversampled flow templates."""

LUMI_EVENTS = 10_000
"""Selected dilepton events the statistical precision is scaled to."""

BOOTSTRAP_REPLICAS = 200
MASS_STEP = 0.02
"""Grid step (GeV) of the likelihood scan."""
MASS_MARGIN = 3.0
"""The scan extends this far (GeV) beyond the lowest and highest template mass."""

MBL = "mbl"
"""Row of the neutrino-free observable m_bℓ."""

INTERPOLATIONS = {"linear": 1, "quadratic": 2}
INTERPOLATION = "linear"


def parse_input(item: str) -> tuple[float | None, str]:
    """``M=PATH`` → (M, PATH); a plain ``PATH`` → (None, PATH)."""
    text, sep, path = item.partition("=")
    if not sep:
        return None, item
    try:
        return float(text), path
    except ValueError:
        raise InputError(f"--input {item!r}: {text!r} is not a top mass in GeV (M=PATH)") from None


def sample_mass(path: str | Path, given: float | None = None) -> float:
    """The true m_t of the sample at ``path``: ``given``, else its generation record's
    ``top_mass``; a file whose mass cannot be known is refused."""
    from nuanalysis.generation.record import read_generation_record

    if given is not None:
        mass_value = given
    else:
        record = read_generation_record(path) or {}
        if "top_mass" not in record:
            raise InputError(
                f"{path}: the true top mass of this sample is unknown (no 'top_mass' in its "
                "generation record; files made by 'nuanalysis generate --top-mass' have one); "
                f"give it as --input MASS={path}"
            )
        mass_value = record["top_mass"]
    mass_value = float(mass_value)
    if not 100.0 < mass_value < 300.0:
        raise InputError(f"{path}: top mass {mass_value} GeV is outside 100–300 GeV")
    return mass_value


def require_two_masses(masses: Sequence[float]) -> None:
    if len(set(masses)) < 2:
        raise InputError(
            "a top-mass study needs samples at two different masses at least, got "
            + (", ".join(f"{m:g} GeV" for m in sorted(set(masses))) or "none")
        )


def resolve_inputs(items: Sequence[str]) -> list[tuple[float, str]]:
    """(m_t, path) of every file of ``items`` (``PATH``, ``GLOB`` or ``MASS=PATH``), the mass
    given or read by :func:`sample_mass`; refused unless two masses differ."""
    from nuanalysis.io import expand_paths

    inputs = []
    for item in items:
        given, pattern = parse_input(item)
        inputs += [(sample_mass(path, given), str(path)) for path in expand_paths(pattern)]
    require_two_masses([m for m, _ in inputs])
    return inputs


def template_halves(events: PaddedEvents, source_event: np.ndarray | None) -> np.ndarray:
    """(n,) True for the template half: even ``source_event`` (re-smeared copies of one
    Pythia event stay together), or even entries without it; the rest is pseudo-data."""
    label = np.arange(len(events)) if source_event is None else np.asarray(source_event)
    return label % 2 == 0


def _masses(lepton_pos, lepton_neg, b_candidates, neutrinos=None) -> np.ndarray:
    """(n, 2, 2) masses indexed [pairing, side] of ℓ⁺ + b_pairing (+ ν), ℓ⁻ + the other b (+ ν̄);
    pairing 0 gives ℓ⁺ the leading candidate."""
    nu = None if neutrinos is None else massless_from_momentum(neutrinos)
    options = []
    for first in (0, 1):
        top = lepton_pos + b_candidates[:, first]
        antitop = lepton_neg + b_candidates[:, 1 - first]
        if nu is not None:
            top, antitop = top + nu[:, 0], antitop + nu[:, 1]
        options.append(np.stack([mass(top), mass(antitop)], axis=1))
    return np.stack(options, axis=1)


def mbl_pairing(events: PaddedEvents) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n,) pairing of lowest mean m_bℓ, (n,) that mean m_bℓ and (n,) events with two b
    candidates (module docstring)."""
    candidates, has_two = b_jet_candidates(events)
    mean_mbl = _masses(events.lepton_pos, events.lepton_neg, candidates).mean(axis=2)
    pairing = np.argmin(mean_mbl, axis=1)
    return pairing, mean_mbl[np.arange(len(events)), pairing], has_two


def mbl_observable(events: PaddedEvents) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1) mean m_bℓ and (n,) valid (two b candidates)."""
    _, values, has_two = mbl_pairing(events)
    return values[:, None], has_two


def _own_pairing(result: NeutrinoResult) -> np.ndarray | None:
    key = next((key for key in PAIRING_KEYS if key in result.extras), None)
    return None if key is None else np.asarray(result.extras[key])


def mblnu_observable(events: PaddedEvents, result: NeutrinoResult) -> tuple[np.ndarray, np.ndarray]:
    """(n, S) mean m(bℓν) of the two tops, one column per posterior draw (S = 1 for a point
    method), and (n,) valid; pairing: the method's own, else :func:`mbl_pairing`."""
    candidates = b_jet_candidates(events)[0]
    pairing, _, valid = mbl_pairing(events)
    own = _own_pairing(result)
    if own is not None:
        pairing = np.where(own >= 0, own, 0)
        valid = valid & (own >= 0)
    posterior = Posterior.from_result(result)
    draws = result.momenta[:, None] if posterior is None else posterior.draws
    n, n_draws = draws.shape[:2]

    def repeat(array: np.ndarray) -> np.ndarray:
        return np.repeat(array, n_draws, axis=0)

    masses = _masses(
        repeat(events.lepton_pos),
        repeat(events.lepton_neg),
        repeat(candidates),
        draws.reshape(n * n_draws, 2, 3),
    )
    chosen = masses[np.arange(n * n_draws), repeat(pairing)].mean(axis=1).reshape(n, n_draws)
    valid = valid & result.valid & np.isfinite(chosen).all(axis=1)
    return np.where(valid[:, None], chosen, 0.0), valid


@dataclass(frozen=True)
class Binning:
    """Regular bins of ``width`` GeV over ``window`` of one observable."""

    observable: str
    window: tuple[float, float]
    width: float = BIN_WIDTH

    def __post_init__(self) -> None:
        low, high = self.window
        if not (np.isfinite(low) and np.isfinite(high) and high > low):
            raise InputError(f"{self.observable} window must be LOW,HIGH with LOW < HIGH")
        if not (self.width > 0 and self.width <= high - low):
            raise InputError(f"bin width {self.width} GeV does not fit the window {low}–{high}")

    @property
    def edges(self) -> np.ndarray:
        low, high = self.window
        n = max(round((high - low) / self.width), 1)
        return np.linspace(low, high, n + 1)

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    def bin_index(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(n, S) bin of each value, −1 outside the window or for invalid events."""
        edges = self.edges
        index = np.searchsorted(edges, values, side="right") - 1
        inside = (values >= edges[0]) & (values < edges[-1]) & valid[:, None]
        return np.where(inside, index, -1)

    def fractions(self, values: np.ndarray, valid: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """(n, n_bins) weight each event puts in each bin (:func:`event_fractions`)."""
        return event_fractions(self.bin_index(values, valid), self.n_bins, weight)


@dataclass
class Template:
    """A histogram of events (draws at weight w/S): ``values`` Σ_i f_ib and ``variance``
    Σ_i f_ib² per bin (module docstring)."""

    edges: np.ndarray
    values: np.ndarray
    variance: np.ndarray

    @classmethod
    def from_fractions(cls, edges: np.ndarray, fractions: np.ndarray) -> Template:
        return cls(np.asarray(edges), fractions.sum(axis=0), (fractions**2).sum(axis=0))

    @property
    def total(self) -> float:
        return float(self.values.sum())

    @property
    def shape(self) -> np.ndarray:
        """Normalised to one (zeros for an empty template)."""
        return self.values / self.total if self.total > 0 else np.zeros_like(self.values)

    @property
    def shape_variance(self) -> np.ndarray:
        return self.variance / self.total**2 if self.total > 0 else np.zeros_like(self.values)


def window_mean(
    values: np.ndarray, valid: np.ndarray, weight: np.ndarray, window: tuple[float, float]
) -> tuple[float, float]:
    """Weighted mean of the values (n, S) inside ``window`` and its standard error.

    Each event adds W_i = Σ_s (w_i/S) and X_i = Σ_s (w_i/S) x_s over its draws inside the
    window; the mean ΣX/ΣW has the ratio estimator's variance Σ (X_i − mean·W_i)² / (ΣW)²,
    events (not draws) being the independent units."""
    low, high = window
    inside = (values >= low) & (values < high) & valid[:, None]
    per_draw = np.where(inside, np.asarray(weight, dtype=np.float64)[:, None], 0.0)
    per_draw /= values.shape[1]
    w_event = per_draw.sum(axis=1)
    x_event = (per_draw * values).sum(axis=1)
    total = w_event.sum()
    if total <= 0:
        return float("nan"), float("nan")
    mean = x_event.sum() / total
    return float(mean), float(np.sqrt(((x_event - mean * w_event) ** 2).sum()) / total)


@dataclass
class Slope:
    """Straight line mean = intercept + slope (m_t − ``pivot``) through the window means."""

    slope: float
    error: float
    intercept: float
    pivot: float


def fit_slope(masses: Sequence[float], means: Sequence[float], errors: Sequence[float]) -> Slope:
    """Weighted least-squares line through (m_t, mean ± error); the slope's error from the
    fit's covariance (the errors taken as known)."""
    x, y, e = (np.asarray(a, dtype=np.float64) for a in (masses, means, errors))
    usable = np.isfinite(y) & np.isfinite(e) & (e > 0)
    if len(np.unique(x[usable])) < 2:
        return Slope(float("nan"), float("nan"), float("nan"), float("nan"))
    x, y, w = x[usable], y[usable], 1.0 / e[usable] ** 2
    pivot = float(np.average(x, weights=w))
    design = np.stack([np.ones_like(x), x - pivot], axis=1)
    covariance = np.linalg.inv(design.T @ (design * w[:, None]))
    intercept, slope = covariance @ design.T @ (w * y)
    return Slope(float(slope), float(np.sqrt(covariance[1, 1])), float(intercept), pivot)


class TemplateModel:
    """Templates at masses m_k interpolated per bin by a polynomial of ``degree`` in m_t
    (module docstring): p_b(m) = Σ_k c_k(m) p_kb, with variance Σ_k c_k(m)² var p_kb.

    The likelihood takes that variance at the templates' mean mass for every m_t
    (:meth:`variance`): a variance growing away from the templates, as an extrapolated one
    does, would make the constrained likelihood favour the masses the templates know least
    (measured: spurious minima at the scan's edges in bootstrap replicas)."""

    def __init__(self, masses: Sequence[float], templates: Sequence[Template], degree: int):
        self.masses = np.asarray(masses, dtype=np.float64)
        if len(np.unique(self.masses)) <= degree:
            raise InputError(
                f"a degree-{degree} template interpolation needs at least {degree + 1} "
                f"different masses, got {sorted(set(self.masses.tolist()))}"
            )
        self.degree = degree
        self.pivot = float(self.masses.mean())
        self.edges = templates[0].edges
        self.shapes = np.stack([t.shape for t in templates])  # (K, B)
        self.shape_variances = np.stack([t.shape_variance for t in templates])
        self._solve = np.linalg.pinv(self._design(self.masses))  # (degree+1, K)

    def _design(self, masses: np.ndarray) -> np.ndarray:
        return np.vander(np.asarray(masses, dtype=np.float64) - self.pivot, self.degree + 1)

    def coefficients(self, masses: np.ndarray) -> np.ndarray:
        """(M, K) c_k(m) of each template at each mass."""
        return self._design(np.atleast_1d(masses)) @ self._solve

    def expected(self, masses: np.ndarray) -> np.ndarray:
        """(M, B) interpolated shapes."""
        return self.coefficients(masses) @ self.shapes

    def variance(self) -> np.ndarray:
        """(B,) variance of the interpolated shape at the templates' mean mass."""
        return (self.coefficients(self.pivot) ** 2 @ self.shape_variances)[0]

    def resampled(self, fractions: Sequence[np.ndarray], rng: np.random.Generator):
        """The model of bootstrap replicas of the templates' events (``fractions`` (n_k, B) per
        mass, Poisson(1) weight per event), the likelihood's variance kept."""
        templates = [
            Template.from_fractions(self.edges, f * rng.poisson(1.0, len(f))[:, None])
            for f in fractions
        ]
        replica = TemplateModel(self.masses, templates, self.degree)
        replica.shape_variances = self.shape_variances
        return replica


SHAPE_FLOOR = 1e-9
"""Smallest expected fraction per bin (an interpolated shape can dip below zero)."""


def neg2_log_likelihood(data: np.ndarray, shape: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """−2 ln L (a deviance: 0 for a perfect match) of ``data`` (R, B) under ``shape`` (M, B)
    with template variance ``variance`` (B,); (R, M).

    Expected ν_b = n_tot p_b (n_tot the data's count in the window); each ν_b scaled by a
    nuisance β_b with a Gaussian constraint of width r_b = σ(p_b)/p_b, profiled in closed
    form (Barlow–Beeston lite, Conway eq. 14):
    β_b = [1 − ν_b r_b² + √((1 − ν_b r_b²)² + 4 n_b r_b²)] / 2 and
    −2 ln L = Σ_b 2[β_b ν_b − n_b + n_b ln(n_b / β_b ν_b)] + (β_b − 1)² / r_b².
    """
    n = np.asarray(data, dtype=np.float64)[:, None, :]
    p = np.maximum(shape, SHAPE_FLOOR)[None]
    r2 = np.maximum(variance, 0.0) / p**2
    nu = n.sum(axis=2, keepdims=True) * p
    a = 1.0 - nu * r2
    beta = 0.5 * (a + np.sqrt(a**2 + 4.0 * n * r2))
    mu = beta * nu
    filled = n > 0  # then μ > 0: β > 0 where n > 0
    log_term = np.where(
        filled, n * np.log(np.where(filled, n, 1.0) / np.where(filled, mu, 1.0)), 0.0
    )
    constraint = np.divide((beta - 1.0) ** 2, r2, out=np.zeros_like(mu), where=r2 > 0)
    return (2.0 * (mu - n + log_term) + constraint).sum(axis=2)


def scan_minimum(grid: np.ndarray, scan: np.ndarray) -> np.ndarray:
    """(R,) minimum of each scan (R, M) over ``grid``, refined by a parabola through the
    lowest grid point and its neighbours."""
    best = np.clip(np.argmin(scan, axis=1), 1, len(grid) - 2)
    rows = np.arange(len(scan))
    left, centre, right = scan[rows, best - 1], scan[rows, best], scan[rows, best + 1]
    curvature = left - 2.0 * centre + right
    step = grid[1] - grid[0]
    half_difference = 0.5 * (left - right)
    shift = np.divide(half_difference, curvature, out=np.zeros_like(centre), where=curvature > 0)
    return grid[best] + np.clip(shift, -1.0, 1.0) * step


def likelihood_interval(grid: np.ndarray, scan: np.ndarray) -> tuple[float, float]:
    """Where Δ(−2 ln L) first reaches 1 below and above the minimum of one scan (M,);
    NaN on a side where the grid ends first."""
    delta = scan - scan.min()
    best = int(np.argmin(delta))

    def crossing(indices) -> float:
        previous = best
        for i in indices:
            if delta[i] >= 1.0:
                fraction = (1.0 - delta[previous]) / (delta[i] - delta[previous])
                return float(grid[previous] + fraction * (grid[i] - grid[previous]))
            previous = i
        return float("nan")

    return crossing(range(best - 1, -1, -1)), crossing(range(best + 1, len(grid)))


@dataclass
class MassFit:
    """The template fit of one pseudo-data sample."""

    true_mass: float
    fitted: float
    error: float  # bootstrap of the pseudo-data: the statistical precision of the data
    total_error: float  # bootstrap of pseudo-data and templates
    likelihood_low: float  # Δ(−2 ln L) = 1 interval
    likelihood_high: float
    n_events: int  # selected events of the pseudo-data half
    n_window: float  # of which in the window (weighted)
    at_boundary: bool
    flat: bool  # Δ(−2 ln L) < 1 over the whole scan: no m_t sensitivity, no fit (NaN)
    grid: np.ndarray
    scan: np.ndarray

    @property
    def likelihood_error(self) -> float:
        return 0.5 * (self.likelihood_high - self.likelihood_low)

    def scaled_error(self, n_events: int) -> float:
        """The data's statistical uncertainty for ``n_events`` selected events."""
        return self.error * float(np.sqrt(self.n_events / n_events))

    def to_dict(self, lumi_events: int) -> dict:
        return {
            "true_mass": self.true_mass,
            "fitted": self.fitted,
            "error": self.error,
            "error_with_templates": self.total_error,
            "likelihood_interval": [self.likelihood_low, self.likelihood_high],
            "n_events": self.n_events,
            "n_window": self.n_window,
            "at_boundary": self.at_boundary,
            "flat_likelihood": self.flat,
            f"error_{lumi_events}_events": self.scaled_error(lumi_events),
        }


def fit_mass(
    model: TemplateModel,
    data_fractions: np.ndarray,
    true_mass: float,
    template_fractions: Sequence[np.ndarray] | None = None,
    replicas: int = BOOTSTRAP_REPLICAS,
    rng: np.random.Generator | None = None,
) -> MassFit:
    """Fit m_t to the pseudo-data events' ``data_fractions`` (n, B) (module docstring);
    with the templates' events ``template_fractions`` (n_k, B per mass) the bootstrap also
    resamples them (``total_error``)."""
    rng = np.random.default_rng(0) if rng is None else rng
    low, high = model.masses.min() - MASS_MARGIN, model.masses.max() + MASS_MARGIN
    grid = np.arange(low, high + MASS_STEP / 2, MASS_STEP)
    shape, variance = model.expected(grid), model.variance()
    data = data_fractions.sum(axis=0)
    scan = neg2_log_likelihood(data[None], shape, variance)[0]
    fitted = float(scan_minimum(grid, scan[None])[0])
    error = total_error = float("nan")
    weights = rng.poisson(1.0, size=(replicas, len(data_fractions)))  # drawn even if unused:
    # every method's fit at this mass sees the same replicas
    flat = bool(scan.max() - scan.min() < 1.0)
    if flat:
        fitted = float("nan")
    elif replicas > 1:
        fits = scan_minimum(grid, neg2_log_likelihood(weights @ data_fractions, shape, variance))
        error = float(np.std(fits, ddof=1))
        if template_fractions is not None:
            fits = np.concatenate(
                [
                    scan_minimum(
                        grid,
                        neg2_log_likelihood(
                            w[None] @ data_fractions,
                            model.resampled(template_fractions, rng).expected(grid),
                            variance,
                        ),
                    )
                    for w in weights
                ]
            )
            total_error = float(np.std(fits, ddof=1))
    interval = likelihood_interval(grid, scan)
    edge = 2 * MASS_STEP
    return MassFit(
        true_mass=float(true_mass),
        fitted=fitted,
        error=error,
        total_error=total_error,
        likelihood_low=interval[0],
        likelihood_high=interval[1],
        n_events=len(data_fractions),
        n_window=float(data.sum()),
        at_boundary=bool(fitted < grid[0] + edge or fitted > grid[-1] - edge),
        flat=flat,
        grid=grid,
        scan=scan - scan.min(),
    )


@dataclass
class ObservableSample:
    """One method's observable on one sample: (n, S) ``values``, (n,) ``valid``."""

    true_mass: float
    values: np.ndarray
    valid: np.ndarray
    weight: np.ndarray
    template_half: np.ndarray


@dataclass
class MethodScan:
    """A method's (or m_bℓ's) templates, calibration slope and template fits."""

    name: str
    observable: str
    binning: Binning
    masses: list[float]
    means: list[float]
    mean_errors: list[float]
    slope: Slope
    templates: list[Template]
    sample_sizes: list[int]  # selected events per mass (both halves)
    fits: list[MassFit]
    valid_fraction: float
    n_draws: int
    calibration: Slope  # fitted m_t against true m_t over the pseudo-data samples
    slope_ratio: float = float("nan")
    slope_ratio_error: float = float("nan")

    def central_fit(self, mass_value: float = TOP_MASS) -> MassFit:
        """The fit of the pseudo-data sample closest to ``mass_value``."""
        return min(self.fits, key=lambda fit: abs(fit.true_mass - mass_value))

    @property
    def calibratable(self) -> bool:
        """The fits respond to m_t: calibration slope k positive and 2σ from zero."""
        c = self.calibration
        return bool(np.isfinite(c.slope) and c.slope > 2 * c.error)

    def fit_withheld(self, fit: MassFit) -> str:
        """Why ``fit``'s σ is no m_t precision (then it is not quoted), or ``""``.

        A flat likelihood has no minimum; fits that do not follow the true m_t (calibration
        slope k not 2σ above zero) can be precise about a value that does not depend on m_t —
        a method solving with m_t = 172.5 GeV as a constraint returns nearly the same m(bℓν)
        whatever the true mass, and its bootstrap σ is then small for that reason alone."""
        if fit.flat:
            return "flat likelihood: Δ(−2 ln L) < 1 over the whole scan, no minimum"
        if not self.calibratable:
            c = self.calibration
            return (
                f"the fits do not follow the true m_t (k = {c.slope:.2f} ± {c.error:.2f}, "
                "not 2σ above 0): no calibration, and σ is no m_t precision"
            )
        return ""

    @property
    def mean_withheld(self) -> str:
        """Why the window mean gives no σ(m_t) (:meth:`mean_precision` NaN), or ``""``."""
        s = self.slope
        if np.isfinite(s.slope) and s.slope > 2 * s.error:
            return ""
        return (
            f"the window mean does not follow the true m_t (slope {s.slope:.3f} ± "
            f"{s.error:.3f}, not 2σ above 0)"
        )

    def calibrated(self, fit: MassFit) -> tuple[float, float]:
        """``fit``'s m_t and data σ through the calibration line, (m̂ − a)/k + pivot and σ/k;
        NaN when the fits do not respond to m_t (:attr:`calibratable`)."""
        c = self.calibration
        if not self.calibratable:
            return float("nan"), float("nan")
        return c.pivot + (fit.fitted - c.intercept) / c.slope, fit.error / c.slope

    def mean_precision(self, n_events: int, mass_value: float = TOP_MASS) -> float:
        """σ(m_t) for ``n_events`` from the window mean alone: its standard error at the mass
        nearest ``mass_value``, scaled to ``n_events``, over the slope. Needs no template, so
        no template noise: a cross-check of the fit's σ. NaN where the mean does not follow
        m_t (:attr:`mean_withheld`): σ over a slope compatible with zero is no precision."""
        if self.mean_withheld:
            return float("nan")
        i = int(np.argmin(np.abs(np.asarray(self.masses) - mass_value)))
        scaled = self.mean_errors[i] * float(np.sqrt(self.sample_sizes[i] / n_events))
        return scaled / self.slope.slope

    def calibrated_scaled_error(self, fit: MassFit, n_events: int) -> float:
        """The calibrated data σ for ``n_events`` selected events."""
        return self.calibrated(fit)[1] * float(np.sqrt(fit.n_events / n_events))

    def to_dict(self, lumi_events: int) -> dict:
        """The method's figures; σ's scaled to ``lumi_events`` are null where withheld, and
        ``notes`` says why (:meth:`fit_withheld`, :attr:`mean_withheld`)."""
        return {
            "observable": self.observable,
            "m_t_sensitive": self.calibratable and not self.mean_withheld,
            "notes": self.notes(),
            "window": list(self.binning.window),
            "bin_width": self.binning.width,
            "draws_per_event": self.n_draws,
            "valid_fraction": self.valid_fraction,
            "masses": self.masses,
            "window_mean": self.means,
            "window_mean_error": self.mean_errors,
            f"mean_precision_{lumi_events}_events": self.mean_precision(lumi_events),
            "slope": self.slope.slope,
            "slope_error": self.slope.error,
            "slope_ratio_to_truth": self.slope_ratio,
            "slope_ratio_to_truth_error": self.slope_ratio_error,
            "templates": [
                {"mass": m, "values": t.values.tolist(), "variance": t.variance.tolist()}
                for m, t in zip(self.masses, self.templates, strict=True)
            ],
            "calibration": {
                "slope": self.calibration.slope,
                "slope_error": self.calibration.error,
                "intercept": self.calibration.intercept,
                "pivot": self.calibration.pivot,
            },
            "fits": [
                {
                    **fit.to_dict(lumi_events),
                    "precision_withheld": self.fit_withheld(fit) or None,
                    f"error_{lumi_events}_events": None
                    if self.fit_withheld(fit)
                    else fit.scaled_error(lumi_events),
                    "calibrated": self.calibrated(fit)[0],
                    "calibrated_error": self.calibrated(fit)[1],
                    f"calibrated_error_{lumi_events}_events": self.calibrated_scaled_error(
                        fit, lumi_events
                    ),
                }
                for fit in self.fits
            ],
        }

    def notes(self, mass_value: float = TOP_MASS) -> list[str]:
        """Every reason a figure of the table is missing (—): the fit nearest ``mass_value``
        (:meth:`fit_withheld`), the window mean (:attr:`mean_withheld`), no truth-ν slope."""
        reasons = [self.fit_withheld(self.central_fit(mass_value)), self.mean_withheld]
        if not np.isfinite(self.slope_ratio):
            reasons.append("no ratio to truth-ν: no finite truth-ν slope in this study")
        return [r for r in reasons if r]


def scan_method(
    name: str,
    observable: str,
    binning: Binning,
    samples: Sequence[ObservableSample],
    degree: int,
    replicas: int = BOOTSTRAP_REPLICAS,
    seed: int = 0,
) -> MethodScan:
    """Slope on all events, templates from the template halves, one fit per pseudo-data
    half (module docstring)."""
    rng = np.random.default_rng(seed)
    masses, means, errors, templates, template_fractions, data = [], [], [], [], [], []
    for sample in sorted(samples, key=lambda s: s.true_mass):
        mean, error = window_mean(sample.values, sample.valid, sample.weight, binning.window)
        fractions = binning.fractions(sample.values, sample.valid, sample.weight)
        masses.append(sample.true_mass)
        means.append(mean)
        errors.append(error)
        template_fractions.append(fractions[sample.template_half])
        templates.append(Template.from_fractions(binning.edges, template_fractions[-1]))
        data.append(fractions[~sample.template_half])
    model = TemplateModel(masses, templates, degree)
    fits = [
        fit_mass(model, f, m, template_fractions, replicas, rng)
        for m, f in zip(masses, data, strict=True)
    ]
    n_total = sum(len(s.valid) for s in samples)
    return MethodScan(
        name=name,
        observable=observable,
        binning=binning,
        masses=masses,
        means=means,
        mean_errors=errors,
        slope=fit_slope(masses, means, errors),
        templates=templates,
        sample_sizes=[len(sample.valid) for sample in sorted(samples, key=lambda s: s.true_mass)],
        fits=fits,
        valid_fraction=float(sum(s.valid.sum() for s in samples) / max(n_total, 1)),
        n_draws=int(samples[0].values.shape[1]),
        calibration=fit_slope(masses, [f.fitted for f in fits], [f.error for f in fits]),
    )


@dataclass
class MassScanStudy:
    """Every method's :class:`MethodScan`, the truth slope ratio filled in."""

    methods: dict[str, MethodScan]
    inputs: list[tuple[float, str]]
    interpolation: str
    lumi_events: int
    n_events: dict[float, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reference = self.methods.get(reference_method())
        if reference is None:
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            for scan in self.methods.values():
                slope, truth = np.float64(scan.slope.slope), np.float64(reference.slope.slope)
                scan.slope_ratio = float(slope / truth)
                relative = np.hypot(scan.slope.error / slope, reference.slope.error / truth)
                scan.slope_ratio_error = float(abs(slope / truth) * relative)

    def to_json(self) -> dict:
        return {
            "study": "top-mass templates, calibration slope and template fit",
            "inputs": [{"top_mass": m, "path": p} for m, p in self.inputs],
            "n_events": {f"{m:g}": n for m, n in self.n_events.items()},
            "split": "templates: even source_event (even entry without it); pseudo-data: odd",
            "interpolation": self.interpolation,
            "likelihood": "binned Poisson shape fit, Barlow-Beeston-lite template statistics",
            "lumi_events": self.lumi_events,
            "reference": reference_method(),
            "methods": {name: s.to_dict(self.lumi_events) for name, s in self.methods.items()},
        }


def _figure(value: float, error: float | None = None, width: int = 0, digits: int = 2) -> str:
    """``value±error`` right-aligned in ``width``; ``—`` for a value that is not finite (each
    — of the table is explained under it)."""
    if not np.isfinite(value):
        return f"{'—':>{width}}"
    text = f"{value:.{digits}f}"
    if error is not None:
        text += f"±{error:.{digits}f}" if np.isfinite(error) else "±—"
    return f"{text:>{width}}"


def format_table(study: MassScanStudy) -> str:
    """One row per method: slope of the window mean and its ratio to truth-ν's, the
    calibration slope k of the fits, and the fit of the pseudo-data nearest 172.5 GeV: as
    fitted (data σ, σ with the templates' statistics, σ scaled to ``lumi_events`` selected
    events) and calibrated (σ/k, and scaled), and the window mean's σ(m_t) scaled
    (:meth:`MethodScan.mean_precision`). No σ is quoted for a method whose fits do not
    follow m_t (:meth:`MethodScan.fit_withheld`): every — is explained under the table."""
    n = study.lumi_events
    masses = sorted(m for m, _ in study.inputs)
    central = min(masses, key=lambda m: abs(m - TOP_MASS))
    header = (
        f"{'method':<19}{'obs':<6}{'valid':>6}{'slope':>14}{'/truth':>11}{'k':>12}"
        f"{'fitted ± σ':>15}{'σ+tmpl':>7}{f'σ@{n}':>8}{'calibrated ± σ/k':>18}{f'σ/k@{n}':>10}"
        f"{f'mean@{n}':>11}"
    )
    lines = [
        f"top-mass study: m_t = {', '.join(f'{m:g}' for m in masses)} GeV; templates from one "
        f"half of each sample, fit to the other ({study.interpolation} interpolation); slope: "
        "window mean vs true m_t; k: fitted vs true m_t (calibration); shown: the fit of the "
        f"m_t = {central:g} GeV sample (every sample's fit: masscan.json); σ: bootstrap of the "
        "pseudo-data, σ+tmpl: and of the templates; mean: σ of the window mean / slope (no "
        "templates); —: no figure, reason below",
        header,
    ]
    notes = []
    for name, scan in study.methods.items():
        fit = scan.central_fit(central)
        quoted = not scan.fit_withheld(fit)
        calibrated, error = scan.calibrated(fit)
        k = scan.calibration
        draws = f" ×{scan.n_draws}" if scan.n_draws > 1 else ""
        nan = float("nan")
        lines.append(
            f"{name + draws:<19}{scan.observable:<6}{scan.valid_fraction:>6.3f}"
            + _figure(scan.slope.slope, scan.slope.error, 14, 3)
            + _figure(scan.slope_ratio, scan.slope_ratio_error, 11)
            + _figure(k.slope, k.error, 12)
            + _figure(fit.fitted, fit.error if quoted else nan, 15)
            + _figure(fit.total_error if quoted else nan, None, 7)
            + _figure(fit.scaled_error(n) if quoted else nan, None, 8)
            + _figure(calibrated, error, 18)
            + _figure(scan.calibrated_scaled_error(fit, n), None, 10)
            + _figure(scan.mean_precision(n), None, 11)
            + ("  (fit at the scan's edge)" if fit.at_boundary and quoted else "")
        )
        notes += [f"  {name}: {reason}" for reason in scan.notes(central)]
    if notes:
        lines += ["— (no figure quoted):", *notes]
    return "\n".join(lines)


@dataclass
class MassSample:
    """One input sample: its true m_t, the events, each method's result and the template half."""

    true_mass: float
    path: str
    events: PaddedEvents
    results: dict[str, NeutrinoResult]
    template_half: np.ndarray


def mass_sample(true_mass: float, path: str, run) -> MassSample:
    """The :class:`MassSample` of one file's :class:`~nuanalysis.runner.RunResult`."""
    from nuanalysis.generation.record import source_groups

    halves = template_halves(run.events, source_groups([path], len(run.events)))
    return MassSample(true_mass, path, run.events, run.results, halves)


def run_masscan(
    samples: Sequence[MassSample],
    *,
    mblnu_binning: Binning | None = None,
    mbl_binning: Binning | None = None,
    interpolation: str = INTERPOLATION,
    lumi_events: int = LUMI_EVENTS,
    replicas: int = BOOTSTRAP_REPLICAS,
    seed: int = 0,
) -> MassScanStudy:
    """The study (module docstring) of every method in the samples' results (truth first) and
    of m_bℓ; every sample must hold the same methods."""
    require_two_masses([s.true_mass for s in samples])
    mblnu_binning = mblnu_binning or Binning("mblnu", MBLNU_WINDOW)
    mbl_binning = mbl_binning or Binning(MBL, MBL_WINDOW)
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}")
    degree = INTERPOLATIONS[interpolation]
    names = list(samples[0].results)
    names.sort(key=lambda name: name != reference_method())

    def observed(sample: MassSample, values_valid) -> ObservableSample:
        values, valid = values_valid
        weight = np.asarray(sample.events.weight, dtype=np.float64)
        return ObservableSample(sample.true_mass, values, valid, weight, sample.template_half)

    methods = {
        name: scan_method(
            name,
            "mblnu",
            mblnu_binning,
            [observed(s, mblnu_observable(s.events, s.results[name])) for s in samples],
            degree,
            replicas,
            seed,
        )
        for name in names
    }
    methods[MBL] = scan_method(
        MBL,
        MBL,
        mbl_binning,
        [observed(s, mbl_observable(s.events)) for s in samples],
        degree,
        replicas,
        seed,
    )
    return MassScanStudy(
        methods=methods,
        inputs=[(s.true_mass, s.path) for s in samples],
        interpolation=interpolation,
        lumi_events=lumi_events,
        n_events={s.true_mass: len(s.events) for s in samples},
    )
