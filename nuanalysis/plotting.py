"""mplhep-styled figures of method comparisons and χ² assignment (ν-Flows Figs. 6–8, Table 2).

Every function takes the arrays it draws plus an output directory, writes one
PNG and returns its path, so the report (:mod:`nuanalysis.report`) and
notebooks can use them alike. No backend is forced: matplotlib picks a headless
one without a display, and a notebook keeps its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np

from nuanalysis.metrics import COMPONENTS, NEUTRINO_NAMES, neutrino_components

LABELS = {
    "truth": "Truth",
    "quadratic": r"$p_T^{miss}$ + $m_W$",
    "nw": "Neutrino Weighting",
    "ellipse": "Ellipse",
    "ff": r"$\nu$-FF",
    "flow": r"$\nu$-Flows (mode)",
    "flow-sample": r"$\nu$-Flows (sample)",
}
COLORS = {
    "truth": "black",
    "quadratic": "tab:green",
    "nw": "tab:purple",
    "ellipse": "tab:cyan",
    "ff": "tab:blue",
    "flow": "tab:orange",
    "flow-sample": "tab:red",
}
AXIS = {
    "px": (r"$p_x$ [GeV]", (-250, 250)),
    "py": (r"$p_y$ [GeV]", (-250, 250)),
    "pz": (r"$p_z$ [GeV]", (-600, 600)),
    "eta": (r"$\eta$", (-5, 5)),
    "e": (r"$E$ [GeV]", (0, 800)),
    "mlnu": (r"$m(\ell\nu)$ [GeV]", (0, 200)),
    "mblnu": (r"$m(b\ell\nu)$ [GeV]", (50, 350)),
    "mtt": (r"$m_{t\bar{t}}$ [GeV]", (250, 1250)),
}
BINS = 50


def label(method: str) -> str:
    return LABELS.get(method, method)


def color(method: str) -> str | None:
    return COLORS.get(method)


def _figure(ncols: int = 1, nrows: int = 1, size: float = 5.0):
    plt.style.use(hep.style.ATLAS)
    return plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.9), squeeze=False)


def _save(fig, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _overlay(ax, series: Mapping[str, np.ndarray], key: str, reference: np.ndarray | None):
    title, edges = AXIS[key]
    bins = np.linspace(*edges, BINS + 1)
    if reference is not None:
        counts, _ = np.histogram(np.clip(reference, bins[0], bins[-1]), bins)
        hep.histplot(counts, bins, ax=ax, color="black", label="Truth", density=True)
    for method, values in series.items():
        if method == "truth" and reference is not None:
            continue
        counts, _ = np.histogram(np.clip(values, bins[0], bins[-1]), bins)
        if counts.sum():
            hep.histplot(
                counts, bins, ax=ax, label=label(method), color=color(method), density=True
            )
    ax.set_xlabel(title)
    ax.set_ylabel("density")
    ax.set_xlim(bins[0], bins[-1])


def plot_neutrino_components(
    momenta: Mapping[str, np.ndarray],
    valid: Mapping[str, np.ndarray],
    truth: np.ndarray,
    out_dir: str | Path,
) -> list[Path]:
    """Per neutrino: px, py, pz, η, E of each method (valid events) and the truth (paper Fig. 6)."""
    paths = []
    for i in range(truth.shape[1]):
        fig, axes = _figure(ncols=len(COMPONENTS))
        true = neutrino_components(truth[:, i])
        reco = {m: neutrino_components(p[valid[m], i]) for m, p in momenta.items()}
        for ax, component in zip(axes[0], COMPONENTS, strict=True):
            _overlay(ax, {m: r[component] for m, r in reco.items()}, component, true[component])
        axes[0, 0].legend(fontsize="x-small")
        paths.append(_save(fig, Path(out_dir), f"{NEUTRINO_NAMES[i]}_components"))
    return paths


def plot_reco_vs_true(
    momenta: Mapping[str, np.ndarray],
    valid: Mapping[str, np.ndarray],
    truth: np.ndarray,
    out_dir: str | Path,
    component: str = "pz",
) -> Path:
    """2-D histograms of reconstructed vs true ``component`` of neutrino 0 (paper Fig. 7)."""
    methods = [m for m in momenta if m != "truth"] or list(momenta)
    fig, axes = _figure(ncols=len(methods))
    title, edges = AXIS[component]
    bins = np.linspace(*edges, BINS + 1)
    for ax, method in zip(axes[0], methods, strict=True):
        keep = valid[method]
        reco = neutrino_components(momenta[method][keep, 0])[component]
        true = neutrino_components(truth[keep, 0])[component]
        counts, _, _ = np.histogram2d(true, reco, [bins, bins])
        hep.hist2dplot(counts, bins, bins, ax=ax, cbar=False, cmin=1)
        ax.plot(edges, edges, color="grey", lw=1)
        ax.set_xlabel(f"true {title}")
        ax.set_ylabel(f"reco {title}")
        ax.set_title(label(method), fontsize="small")
    return _save(fig, Path(out_dir), f"reco_vs_true_{component}")


def plot_distributions(
    values: Mapping[str, Mapping[str, np.ndarray]], out_dir: str | Path, name: str = "masses"
) -> Path:
    """Overlaid distributions, one panel per quantity: ``values[quantity][method]`` (paper Fig. 8).

    The ``truth`` entry (truth neutrino, same reco objects) is drawn in black.
    """
    fig, axes = _figure(ncols=len(values))
    for ax, (key, series) in zip(axes[0], values.items(), strict=True):
        _overlay(ax, series, key, series.get("truth"))
    axes[0, 0].legend(fontsize="x-small")
    return _save(fig, Path(out_dir), name)


def plot_bars(
    values: Mapping[str, float],
    ylabel: str,
    out_dir: str | Path,
    name: str,
    log: bool = False,
) -> Path:
    """One bar per method (failure fractions, events per second)."""
    fig, axes = _figure()
    ax = axes[0, 0]
    methods = list(values)
    ax.bar(
        range(len(methods)), [values[m] for m in methods], color=[color(m) or "C0" for m in methods]
    )
    ax.set_xticks(range(len(methods)), [label(m) for m in methods], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    return _save(fig, Path(out_dir), name)


def plot_accuracy(
    accuracy: Mapping[str, Mapping[str, float]],
    multiplicities: Sequence[str],
    ylabel: str,
    out_dir: str | Path,
    name: str,
) -> Path:
    """Assignment accuracy vs jet multiplicity, one line per method (paper Tables 2, 4, 5)."""
    fig, axes = _figure()
    ax = axes[0, 0]
    x = np.array([int(m) for m in multiplicities])
    for method, by_n in accuracy.items():
        values = [by_n.get(m, np.nan) for m in multiplicities]
        ax.plot(x, values, "o-", label=label(method), color=color(method))
    ax.set_xlabel("number of jets")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize="x-small")
    return _save(fig, Path(out_dir), name)


def plot_study(study, out_dir: str | Path) -> list[Path]:
    """Response matrices, unfolded vs truth and uncertainty ratios as PNGs (mplhep ATLAS style)."""
    from nuanalysis.unfold_study import REFERENCE

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    labels = study.bin_labels()
    n = len(labels)
    with plt.style.context(hep.style.ATLAS):
        for name, m in study.methods.items():
            fig, ax = plt.subplots(figsize=(9, 8))
            image = ax.imshow(m.response.migration, origin="lower", cmap="viridis", vmin=0, vmax=1)
            fig.colorbar(image, ax=ax, label="P(reco bin | truth bin)")
            ax.set_xlabel("truth bin (m_tt-major)")
            ax.set_ylabel("reco bin (m_tt-major)")
            ax.set_title(
                f"{name}: response, efficiency {m.response.efficiency.mean():.2f}", fontsize=14
            )
            written.append(_save(fig, out, f"response_{name}"))

            n_ptt = len(study.ptt_edges) - 1
            fig, axes = plt.subplots(1, n_ptt, figsize=(6 * n_ptt, 5.5), sharey=False)
            unfolded = m.response.reshape(m.svd.unfolded)
            sigma = m.response.reshape(m.svd.uncertainty)
            truth = m.response.reshape(m.truth)
            centres = 0.5 * (np.asarray(study.mtt_edges[1:]) + np.asarray(study.mtt_edges[:-1]))
            for j, ax in enumerate(np.atleast_1d(axes)):
                ax.stairs(truth[:, j], study.mtt_edges, label="truth (odd entries)", color="black")
                ax.errorbar(
                    centres,
                    unfolded[:, j],
                    sigma[:, j],
                    fmt="o",
                    label=f"{name} SVD k={m.svd.regularisation}",
                )
                ax.errorbar(
                    centres, m.response.reshape(m.bayes.unfolded)[:, j], fmt="x", label="D'Agostini"
                )
                ax.set_xlabel(r"$m_{t\bar{t}}$ [GeV]")
                ax.set_title(
                    f"$p_T^t$ in [{study.ptt_edges[j]:g}, {study.ptt_edges[j + 1]:g}) GeV",
                    fontsize=14,
                )
            np.atleast_1d(axes)[0].set_ylabel("events")
            np.atleast_1d(axes)[0].legend(fontsize=11)
            written.append(_save(fig, out, f"unfolded_{name}"))

        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(11, 9), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
        )
        edges = np.arange(n + 1)
        for name, m in study.methods.items():
            style = {"label": label(name), "color": color(name)}
            top.stairs(100 * m.rel_uncertainty, edges, **style)
            if m.ratio_to_truth is not None and name != REFERENCE:
                bottom.stairs(m.ratio_to_truth, edges, **style)
        top.set_ylabel("relative uncertainty [%]")
        top.legend(fontsize=12)
        bottom.axhline(1.0, color="black", lw=1)
        bottom.set_ylabel("ratio to truth ν")
        bottom.set_xlabel(f"bin (m_tt-major, {len(study.ptt_edges) - 1} p_T bins per m_tt bin)")
        top.set_title(f"SVD unfolding, k = {study.k}, backend {study.backend}", fontsize=14)
        written.append(_save(fig, out, "uncertainty_ratios"))
    return written
