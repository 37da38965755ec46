"""Is a flow's posterior calibrated? Coverage, the PIT, and a latent temperature that fixes it.

For an event with known truth x and S posterior draws of a quantity q (a
neutrino's p_x, p_y, p_z, or an observable built with the drawn neutrinos:
m_tt, pT_t, m(bℓν)), the probability integral transform is

    PIT = (#{draws below q(x)} + ½ #{draws equal to q(x)}) / S,

the posterior CDF at the truth. A calibrated posterior gives uniform PITs over
events (Dawid, J. R. Stat. Soc. A 147 (1984) 278; Gneiting, Balabdaoui and
Raftery, J. R. Stat. Soc. B 69 (2007) 243): a U shape is over-confident (too
narrow), a hump under-confident. The central credible interval of level c
covers the truth where |PIT − ½| ≤ c/2; its coverage over events should be c.

Observables compare the drawn neutrinos' value with the same observable built
with the true neutrinos and the same leptons and jets
(:func:`observable_values`), so only the neutrino posterior is tested.

**Temperature.** A draw is x = f⁻¹(T·z | event) with z standard normal;
T > 1 widens the posterior, T < 1 narrows it (the "temperature" of sampling
from a flow: Kingma and Dhariwal, "Glow", NeurIPS 2018, §5). :func:`fit_temperature`
finds the T at which the mean of |2 PIT − 1| over events and neutrino
components is ½, its value for uniform PITs; it is monotone in T, so a
bisection in log T finds it. The fitted T is stored in the model file
(:func:`nuanalysis.flows.model_io.calibrated_metadata`) and used for every
posterior draw (``flow-sample``, ``flow-posterior``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from nuanalysis.errors import InputError
from nuanalysis.methods.registry import NeutrinoResult
from nuanalysis.metrics import NEUTRINO_NAMES, leptonic_masses, top_observables
from nuanalysis.padded import PaddedEvents
from nuanalysis.statistics import binomial_fraction

LEVELS = (0.68, 0.95)
"""Central credible-interval levels whose coverage is reported."""

PIT_BINS = 10
"""Bins of the PIT histogram on [0, 1]."""

COMPONENTS = ("px", "py", "pz")
"""The flow's neutrino components tested (and used to fit the temperature)."""

OBSERVABLES = ("mtt", "ptt", "mblnu")
"""Observables built with the drawn neutrinos (:func:`observable_values`)."""

TEMPERATURE_RANGE = (0.5, 2.0)
"""Range searched by :func:`fit_temperature`."""

EVENTS_PER_BLOCK = 64
"""Events whose draws are turned into observables at once (memory: block × S rows)."""


def observable_values(events: PaddedEvents, momenta: np.ndarray) -> dict[str, np.ndarray]:
    """(n,) p_x, p_y, p_z of each neutrino, m_tt, pT_t and m(bℓν) with ``momenta`` (n, n_nu, 3).

    m_tt, pT_t: :func:`nuanalysis.metrics.top_observables` (dilepton: the b-jet candidates
    paired by the top mass; semileptonic: the truth-matched jets); m(bℓν): the leptonic
    side with the truth-matched b (:func:`nuanalysis.metrics.leptonic_masses`). NaN where
    the observable is not defined for the event.
    """
    values = {
        f"{NEUTRINO_NAMES[i]}_{name}": momenta[:, i, axis]
        for i in range(events.n_neutrinos)
        for axis, name in enumerate(COMPONENTS)
    }
    mtt, ptt, ok = top_observables(events, NeutrinoResult(momenta, np.ones(len(events), bool)))
    values["mtt"] = np.where(ok, mtt, np.nan)
    values["ptt"] = np.where(ok, ptt, np.nan)
    values["mblnu"] = leptonic_masses(events, momenta)["mblnu"]
    return values


def posterior_values(events: PaddedEvents, draws: np.ndarray) -> dict[str, np.ndarray]:
    """(n, S) :func:`observable_values` of every draw of ``draws`` (n, S, n_nu, 3)."""
    n, n_draws = draws.shape[:2]
    out: dict[str, np.ndarray] = {}
    for start in range(0, n, EVENTS_PER_BLOCK):
        block = np.arange(start, min(start + EVENTS_PER_BLOCK, n))
        repeated = events.select(np.repeat(block, n_draws))
        values = observable_values(repeated, draws[block].reshape(-1, *draws.shape[2:]))
        for key, value in values.items():
            out.setdefault(key, np.empty((n, n_draws)))[block] = value.reshape(-1, n_draws)
    return out


def pit(drawn: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(n,) PIT of ``truth`` (n,) under the draws ``drawn`` (n, S) (module docstring);
    NaN where the truth or any draw is undefined, or where all draws agree (the quantity
    does not depend on the neutrinos there: the semileptonic hadronic top's pT)."""
    truth = truth[:, None]
    below = (drawn < truth).mean(axis=1) + 0.5 * (drawn == truth).mean(axis=1)
    defined = np.isfinite(truth[:, 0]) & np.isfinite(drawn).all(axis=1)
    defined &= np.ptp(drawn, axis=1) > 0
    return np.where(defined, below, np.nan)


def summarize_pit(values: np.ndarray) -> dict[str, object]:
    """Coverage of each of :data:`LEVELS` (Wilson errors) and the PIT histogram of the
    defined ``values``: density per bin (1 when uniform) with its Poisson error."""
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=PIT_BINS, range=(0.0, 1.0))
    expected = max(len(values), 1) / PIT_BINS
    coverage = {
        f"{level:g}": binomial_fraction(int((np.abs(values - 0.5) <= level / 2).sum()), len(values))
        for level in LEVELS
    }
    return {
        "n": len(values),
        "coverage": coverage,
        "pit_edges": edges.tolist(),
        "pit_density": (counts / expected).tolist(),
        "pit_density_err": (np.sqrt(counts) / expected).tolist(),
    }


def calibration_report(events: PaddedEvents, draws: np.ndarray) -> dict[str, dict]:
    """:func:`summarize_pit` of every quantity of :func:`observable_values`, from
    ``draws`` (n, S, n_nu, 3) of ``events`` with truth."""
    if events.truth_nu is None:
        raise InputError("calibration needs the true neutrinos (truth_nu_* branches)")
    truth = observable_values(events, events.truth_nu)
    drawn = posterior_values(events, draws)
    return {key: summarize_pit(pit(drawn[key], truth[key])) for key in truth}


def spread_score(events: PaddedEvents, draws: np.ndarray) -> float:
    """Mean |2 PIT − 1| over events and neutrino components: ½ when calibrated,
    above when over-confident."""
    scores = [
        np.abs(2.0 * pit(draws[:, :, i, axis], events.truth_nu[:, i, axis]) - 1.0)
        for i in range(events.n_neutrinos)
        for axis in range(len(COMPONENTS))
    ]
    return float(np.nanmean(np.concatenate(scores)))


def fit_temperature(
    events: PaddedEvents,
    sample: Callable[[float], np.ndarray],
    tolerance: float = 0.01,
) -> float:
    """The latent temperature T at which :func:`spread_score` of ``sample(T)`` — posterior
    draws (n, S, n_nu, 3) of ``events`` at temperature T — is ½ (module docstring),
    by bisection in log T within :data:`TEMPERATURE_RANGE` to a relative ``tolerance``;
    the range's end when the score stays on one side."""
    if events.truth_nu is None:
        raise InputError("fitting a temperature needs the true neutrinos (truth_nu_* branches)")
    low, high = (np.log(t) for t in TEMPERATURE_RANGE)
    if spread_score(events, sample(np.exp(high))) > 0.5:
        return float(np.exp(high))
    if spread_score(events, sample(np.exp(low))) < 0.5:
        return float(np.exp(low))
    while high - low > tolerance:
        middle = 0.5 * (low + high)
        if spread_score(events, sample(np.exp(middle))) > 0.5:
            low = middle
        else:
            high = middle
    return float(np.exp(0.5 * (low + high)))


def format_report(report: dict[str, dict]) -> str:
    """The coverage of every quantity and its PIT histogram as a terminal table."""
    levels = [f"{level:g}" for level in LEVELS]
    header = f"{'quantity':10s}{'n':>7s}" + "".join(f"{f'cover {lv}':>16s}" for lv in levels)
    lines = [header + "   PIT density per tenth (1 = calibrated)"]
    for key, entry in report.items():
        cells = "".join(
            f"{entry['coverage'][lv]['value']:>9.3f} ± {entry['coverage'][lv]['err']:.3f}"
            for lv in levels
        )
        density = " ".join(f"{d:4.2f}" for d in entry["pit_density"])
        lines.append(f"{key:10s}{entry['n']:>7d}{cells}   {density}")
    return "\n".join(lines)


def plot_report(report: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """One panel per quantity: the PIT density with its errors against the calibrated 1,
    the coverages in the corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(report)
    ncols = 3
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        entry = report[key]
        edges = np.asarray(entry["pit_edges"])
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.stairs(entry["pit_density"], edges, color="C0")
        ax.errorbar(centres, entry["pit_density"], entry["pit_density_err"], fmt="none", c="C0")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        coverage = ", ".join(
            f"{level}: {value['value']:.3f}" for level, value in entry["coverage"].items()
        )
        ax.set_title(key, fontsize=10)
        ax.text(0.5, 0.04, f"coverage {coverage}", transform=ax.transAxes, ha="center", fontsize=8)
        ax.set_xlabel("PIT")
        ax.set_ylabel("density")
        ax.set_ylim(bottom=0.0)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
