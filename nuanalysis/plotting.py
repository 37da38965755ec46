"""Slide-ready figures of method comparisons, χ² assignment and unfolding (ν-Flows Figs. 6–8,
Table 2; ν²-Flows unfolding).

Every figure shares one style (:func:`_figure`, :func:`_decorate`, :func:`_save`):
mplhep's ATLAS style, the label "Simulation", √s = 13 TeV and the sample on
each panel, axes with units, distributions as densities per unit of x (per GeV)
with statistical error bars, underflow and overflow drawn as bins on grey
bands outside the axis range (never folded into the edges), 2-D histograms with a
logarithmic colour bar, a legend on every panel above the data. Each public
function writes ``NAME.png`` (100 dpi) and ``NAME.pdf`` into the output
directory, and the histograms it drew as ``hist`` objects into ``NAME.root``
(TH1D / TH2D, readable back with ``uproot.open(path)[key].to_hist()``), so a
user can restyle them in their own framework; it returns the PNG's path. No
backend is forced: matplotlib picks a headless one without a display, and a
notebook keeps its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import hist
import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np
import uproot
from matplotlib.colors import LogNorm

from baselines.constants import SQRT_S
from nuanalysis.methods.registry import get_method, reference_method
from nuanalysis.metrics import COMPONENTS, NEUTRINO_NAMES, neutrino_components
from nuanalysis.statistics import SMALL_SAMPLE

AXIS = {
    "px": (r"$p_x$", "GeV", (-250, 250)),
    "py": (r"$p_y$", "GeV", (-250, 250)),
    "pz": (r"$p_z$", "GeV", (-600, 600)),
    "eta": (r"$\eta$", "", (-5, 5)),
    "e": (r"$E$", "GeV", (0, 800)),
    "mlnu": (r"$m(\ell\nu)$", "GeV", (60, 100)),
    "mblnu": (r"$m(b\ell\nu)$", "GeV", (50, 350)),
    "mtt": (r"$m_{t\bar{t}}$", "GeV", (250, 1250)),
}
"""Per quantity: symbol, unit and the drawn range (values outside go to the flow bins)."""
BINS = 50
MIGRATION_FLOOR = 1e-3
"""Lower end of the response matrices' logarithmic colour scale (smaller probabilities clip)."""
DPI = 100
FORMATS = ("png", "pdf")
NEUTRINO_TITLES = {
    "dilepton": (r"$\nu$ (from $W^+$)", r"$\bar{\nu}$ (from $W^-$)"),
    "semileptonic": (r"$\nu$ / $\bar{\nu}$ (leptonic $W$)",),
}


def label(method: str) -> str:
    """How figures name ``method``: the label it was registered with."""
    return get_method(method).label


def color(method: str) -> str:
    """The colour figures draw ``method`` in: the colour it was registered with."""
    return get_method(method).color


def axis_title(key: str) -> str:
    """``symbol [unit]`` of a quantity of :data:`AXIS`."""
    symbol, unit, _ = AXIS[key]
    return f"{symbol} [{unit}]" if unit else symbol


def density_title(key: str) -> str:
    """``1/N dN/dx [1/unit]``: the y axis of a normalised distribution of ``key``."""
    symbol, unit, _ = AXIS[key]
    return r"$1/N\ dN/d$" + symbol + (f" [1/{unit}]" if unit else "")


def neutrino_titles(n_neutrinos: int) -> tuple[str, ...]:
    """Display names of the neutrinos of an event with ``n_neutrinos`` (schema order)."""
    return NEUTRINO_TITLES["dilepton" if n_neutrinos == 2 else "semileptonic"]


def sample_label(channel: str, inputs: str | Sequence[str]) -> str:
    """The sample as every figure shows it: the channel's tt̄ and the input file's name (or
    how many files), the name as literal text (its ``$`` escaped: mathtext must not parse
    a file name such as ``a$\\bad{$.root``)."""
    if not isinstance(inputs, str) and len(inputs) == 1:
        inputs = inputs[0]
    source = Path(inputs).name if isinstance(inputs, str) else f"{len(inputs)} files"
    return rf"{channel} $t\bar{{t}}$, " + source.replace("$", r"\$")


def _figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 4.5, **kwargs):
    """A grid of ``nrows`` × ``ncols`` panels of ``width`` × ``height`` inches, ATLAS style."""
    plt.style.use(hep.style.ATLAS)
    size = (width * ncols, height * nrows)
    return plt.subplots(nrows, ncols, figsize=size, squeeze=False, **kwargs)


def _decorate(ax, sample: str) -> None:
    """The experiment-style label in the panel's top left: *Simulation*, then √s and the sample,
    on a translucent white box so that it stays readable over a 2-D histogram (plain text:
    mplhep's ``exp_label`` lays the figure out several times, seconds per panel)."""
    energy = f"√s = {SQRT_S / 1000:g} TeV"
    box = {"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.5}
    ax.text(
        0.04, 0.96, "Simulation", transform=ax.transAxes, ha="left", va="top",
        fontsize=12, fontstyle="italic", fontweight="bold", bbox=box,
    )  # fmt: skip
    ax.text(
        0.04, 0.89, f"{energy}\n{sample}" if sample else energy, transform=ax.transAxes,
        ha="left", va="top", fontsize=9, bbox=box,
    )  # fmt: skip


def _legend(ax) -> None:
    """A legend in the upper right, the y range raised so that it sits above the data."""
    n = len(ax.get_legend_handles_labels()[0])
    if not n:
        return
    if ax.get_yscale() == "linear":
        low, high = ax.get_ylim()
        ax.set_ylim(low, low + (high - low) * max(1.5, 1.1 + 0.1 * n))
    ax.legend(fontsize=9, loc="upper right", frameon=False)


TLATEX_SYMBOLS = {r"\ell": "#font[12]{l}", r"\,": " ", r"\ ": " "}
r"""matplotlib mathtext → ROOT TLatex where the command is not ``\name`` → ``#name``: ℓ is
the italic l of TLatex's font 12 (ROOT has no #ell)."""


def tlatex(title: str) -> str:
    r"""A matplotlib title in ROOT's TLatex: ``$m(\ell\nu)$ [GeV]`` → ``m(#font[12]{l}#nu)
    [GeV]``, ``$m_{t\bar{t}}$`` → ``m_{t#bar{t}}``; text outside ``$…$`` is kept."""
    parts = title.split("$")
    for i in range(1, len(parts), 2):  # the odd parts are mathtext
        math_text = re.sub(r"\\(?:mathrm|text)\{([^}]*)\}", r"\1", parts[i])
        for command, latex in TLATEX_SYMBOLS.items():
            math_text = math_text.replace(command, latex)
        parts[i] = re.sub(r"\\([A-Za-z]+)", r"#\1", math_text)
    return "".join(parts)


def _save(
    fig,
    out_dir: Path,
    name: str,
    histograms: Mapping[str, hist.Hist] | None = None,
    warning: str | None = None,
) -> Path:
    """Write ``name`` as PNG and PDF (and its ``histograms`` as ``name.root``, axis titles in
    TLatex, :func:`tlatex`); the PNG's path. A ``warning`` is printed in red in a band below
    the panels."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0.0, 0.15 if warning else 0.0, 1.0, 1.0))
    if warning:
        fig.text(0.5, 0.01, warning, ha="center", va="bottom", color="red", fontsize=9, wrap=True)
    for extension in FORMATS:
        fig.savefig(out_dir / f"{name}.{extension}", dpi=DPI)
    plt.close(fig)
    if histograms:
        with uproot.recreate(out_dir / f"{name}.root") as file:
            for key, histogram in histograms.items():
                in_root = histogram.copy()
                for axis in in_root.axes:
                    axis.label = tlatex(axis.label)
                file[key] = in_root
    return out_dir / f"{name}.png"


def histogram(values: np.ndarray, key: str) -> hist.Hist:
    """The finite ``values`` of quantity ``key`` in :data:`BINS` bins of its range, with
    underflow and overflow."""
    _, _, (low, high) = AXIS[key]
    axis = hist.axis.Regular(BINS, low, high, name=key, label=axis_title(key))
    h = hist.Hist(axis)
    values = np.asarray(values, dtype=np.float64)
    h.fill(values[np.isfinite(values)])
    return h


def _draw_density(ax, h: hist.Hist, **style) -> bool:
    """``h`` normalised to unit area (flow included) per unit of x, with √N error bars; the
    underflow and overflow as one bin each outside the range. False if ``h`` is empty."""
    counts = h.values(flow=True)
    total = counts.sum()
    if not total:
        return False
    edges = h.axes[0].edges
    width = edges[1] - edges[0]
    outer = np.concatenate([[edges[0] - width], edges, [edges[-1] + width]])
    scale = 1.0 / (total * width)
    hep.histplot(counts * scale, outer, yerr=np.sqrt(counts) * scale, ax=ax, **style)
    return True


def _mark_flow_bins(ax, h: hist.Hist) -> None:
    """Grey, labelled bands behind the underflow and overflow bins; x range including them."""
    edges = h.axes[0].edges
    width = edges[1] - edges[0]
    for start, text in ((edges[0] - width, "under-\nflow"), (edges[-1], "over-\nflow")):
        ax.axvspan(start, start + width, color="0.88", zorder=0, lw=0)
        ax.text(
            start + width / 2, 0.02, text, transform=ax.get_xaxis_transform(),
            ha="center", va="bottom", fontsize=6, rotation=90, color="0.35",
        )  # fmt: skip
    ax.set_xlim(edges[0] - width, edges[-1] + width)


def _overlay(
    ax, series: Mapping[str, np.ndarray], key: str, reference: np.ndarray | None, sample: str
) -> dict[str, hist.Hist]:
    """Normalised distributions of ``key``, the truth (``reference``, drawn as the reference
    method) first; the histograms."""
    truth = reference_method()
    drawn: dict[str, hist.Hist] = {}
    if reference is not None:
        drawn[truth] = histogram(reference, key)
    drawn.update(
        {m: histogram(v, key) for m, v in series.items() if m != truth or reference is None}
    )
    for method, h in drawn.items():
        if not _draw_density(ax, h, label=label(method), color=color(method)):
            ax.plot([], [], " ", label=f"{label(method)}: no valid event")
    _mark_flow_bins(ax, next(iter(drawn.values())))
    ax.set_xlabel(axis_title(key))
    ax.set_ylabel(density_title(key))
    _decorate(ax, sample)
    _legend(ax)
    return {f"{key}_{method}": h for method, h in drawn.items()}


def plot_neutrino_components(
    momenta: Mapping[str, np.ndarray],
    valid: Mapping[str, np.ndarray],
    truth: np.ndarray,
    out_dir: str | Path,
    sample: str = "",
) -> list[Path]:
    """Per neutrino a 2 × 3 grid: px, py, pz, η, E of each method (valid events) against the
    truth (all events), and a panel naming the neutrino (paper Fig. 6)."""
    paths = []
    titles = neutrino_titles(truth.shape[1])
    for i in range(truth.shape[1]):
        fig, axes = _figure(ncols=3, nrows=2)
        true = neutrino_components(truth[:, i])
        reco = {m: neutrino_components(p[valid[m], i]) for m, p in momenta.items()}
        histograms = {}
        for ax, component in zip(axes.flat, COMPONENTS, strict=False):
            histograms |= _overlay(
                ax, {m: r[component] for m, r in reco.items()}, component, true[component], sample
            )
        note = axes.flat[-1]
        note.axis("off")
        note.text(0.05, 0.6, titles[i], fontsize=28, transform=note.transAxes, va="center")
        note.text(
            0.05, 0.35,
            "Methods: events with a solution.\nTruth: all events.\n"
            "Grey bands: underflow / overflow.",
            fontsize=11, transform=note.transAxes, va="top",
        )  # fmt: skip
        paths.append(_save(fig, Path(out_dir), f"{NEUTRINO_NAMES[i]}_components", histograms))
    return paths


def plot_reco_vs_true(
    momenta: Mapping[str, np.ndarray],
    valid: Mapping[str, np.ndarray],
    truth: np.ndarray,
    out_dir: str | Path,
    component: str = "pz",
    sample: str = "",
) -> Path:
    """2-D histograms of reconstructed vs true ``component`` of neutrino 0, one panel per
    method, logarithmic colour scale; a method without a valid event gets a panel saying so
    (paper Fig. 7)."""
    methods = [m for m in momenta if m != reference_method()] or list(momenta)
    ncols = min(len(methods), 3)
    nrows = -(-len(methods) // ncols)
    fig, axes = _figure(ncols=ncols, nrows=nrows, width=5.5, height=5.0)
    _, _, (low, high) = AXIS[component]
    title = axis_title(component)
    neutrino = neutrino_titles(truth.shape[1])[0]
    histograms = {}
    for ax, method in zip(axes.flat, methods, strict=False):
        keep = valid[method]
        reco = neutrino_components(momenta[method][keep, 0])[component]
        true = neutrino_components(truth[keep, 0])[component]
        h = hist.Hist(
            hist.axis.Regular(BINS, low, high, name="true", label=f"true {title}"),
            hist.axis.Regular(BINS, low, high, name="reco", label=f"reco {title}"),
        )
        h.fill(true, reco)
        histograms[f"{component}_{method}"] = h
        inside = h.values().sum()
        if inside:
            hep.hist2dplot(h, ax=ax, norm=LogNorm(), cbar=True).cbar.set_label("events")
            ax.plot([low, high], [low, high], color="grey", lw=1)
            outside = 1 - inside / len(reco)
            ax.text(
                0.96, 0.04, f"outside the axes: {100 * outside:.1f} %",
                transform=ax.transAxes, fontsize=9, ha="right",
            )  # fmt: skip
        else:
            ax.text(0.5, 0.5, "no valid event", ha="center", transform=ax.transAxes)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_xlabel(f"true {title}")
        ax.set_ylabel(f"reco {title}")
        ax.set_title(f"{label(method)}: {neutrino}", fontsize=12, pad=22)
        _decorate(ax, sample)
    for ax in axes.flat[len(methods) :]:
        ax.axis("off")
    return _save(fig, Path(out_dir), f"reco_vs_true_{component}", histograms)


def plot_distributions(
    values: Mapping[str, Mapping[str, np.ndarray]],
    out_dir: str | Path,
    name: str = "masses",
    sample: str = "",
) -> Path:
    """Overlaid normalised distributions, one panel per quantity: ``values[quantity][method]``
    (paper Fig. 8). The reference method's entry (truth neutrino, same reco objects) is drawn
    first, in its colour."""
    fig, axes = _figure(ncols=len(values))
    histograms = {}
    for ax, (key, series) in zip(axes[0], values.items(), strict=True):
        histograms |= _overlay(ax, series, key, series.get(reference_method()), sample)
    return _save(fig, Path(out_dir), name, histograms)


def plot_bars(
    values: Mapping[str, float],
    ylabel: str,
    out_dir: str | Path,
    name: str,
    log: bool = False,
    errors: Mapping[str, float] | None = None,
    sample: str = "",
    intervals: Mapping[str, tuple[float, float]] | None = None,
) -> Path:
    """One bar per method (failure fractions, events per second), with ``errors`` (symmetric)
    or ``intervals`` ((low, high), one-sided at a boundary such as 0 failures) as error bars
    and each value written on its bar with them, rounded to them."""
    from nuanalysis.statistics import format_interval, format_value_error

    fig, axes = _figure(width=6.5, height=5.0)
    ax = axes[0, 0]
    methods = list(values)
    heights = np.array([values[m] if values[m] is not None else np.nan for m in methods], float)
    if intervals is not None:
        low, high = (np.array([intervals[m][i] for m in methods], float) for i in (0, 1))
        yerr = np.nan_to_num([heights - low, high - heights]).clip(min=0.0)
        texts = [format_interval(v, lo, hi) for v, lo, hi in zip(heights, low, high, strict=True)]
    else:
        yerr = None if errors is None else np.array([errors.get(m, 0.0) for m in methods])
        texts = [
            format_value_error(v, None if yerr is None else e)
            for v, e in zip(heights, yerr if yerr is not None else heights, strict=True)
        ]
    bars = ax.bar(
        range(len(methods)), np.nan_to_num(heights), yerr=yerr, capsize=4,
        color=[color(m) for m in methods],
    )  # fmt: skip
    ax.bar_label(bars, texts, fontsize=9, padding=3)
    ax.set_xticks(range(len(methods)), [label(m) for m in methods], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
        top = np.nanmax(heights) if np.isfinite(heights).any() else 1.0
        ax.set_ylim(top=top * 30)
    else:
        upper = 0.0 if yerr is None else (yerr if yerr.ndim == 1 else yerr[1])
        ax.set_ylim(0, max(np.nanmax(heights + upper), 1e-3) * 1.4)
    _decorate(ax, sample)
    h = hist.Hist(hist.axis.StrCategory(methods, name="method"), storage=hist.storage.Weight())
    h.view().value = np.nan_to_num(heights)
    # ROOT keeps one error per bin: the half-width of an asymmetric interval
    half = 0.0 if yerr is None else (yerr if yerr.ndim == 1 else yerr.mean(axis=0))
    h.view().variance = np.square(half)
    return _save(fig, Path(out_dir), name, {name: h})


def plot_accuracy(
    accuracy: Mapping[str, Mapping[str, float]],
    multiplicities: Sequence[str],
    ylabel: str,
    out_dir: str | Path,
    name: str,
    title: str = "",
    intervals: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    counts: Mapping[str, int] | None = None,
    sample: str = "",
) -> Path:
    """Assignment accuracy per jet multiplicity (the last column: that many or more), one
    line per method, with the 68 % Wilson intervals as error bars; columns with fewer than
    :data:`~nuanalysis.statistics.SMALL_SAMPLE` events shaded (paper Tables 2, 4, 5)."""
    fig, axes = _figure(width=7.0, height=5.5)
    ax = axes[0, 0]
    x = np.arange(len(multiplicities))
    histograms = {}
    shift = 0.06 * (np.arange(len(accuracy)) - (len(accuracy) - 1) / 2)
    for offset, (method, by_n) in zip(shift, accuracy.items(), strict=True):
        values = np.array([_finite(by_n.get(m)) for m in multiplicities])
        low_high = np.array(
            [
                (intervals or {}).get(method, {}).get(m) or (v, v)
                for m, v in zip(multiplicities, values, strict=True)
            ],
            dtype=float,
        )
        yerr = np.abs(np.stack([values - low_high[:, 0], low_high[:, 1] - values]))
        ax.errorbar(
            x + offset, values, np.nan_to_num(yerr), fmt="o-", capsize=3,
            label=label(method), color=color(method),
        )  # fmt: skip
        h = hist.Hist(hist.axis.Integer(0, len(x), name="jets"), storage=hist.storage.Weight())
        h.view().value = np.nan_to_num(values)
        h.view().variance = np.nan_to_num(np.square(yerr.mean(axis=0)))
        histograms[f"{name}_{method}"] = h
    ticks = [(m if i < len(multiplicities) - 1 else f"≥{m}") for i, m in enumerate(multiplicities)]
    if counts is not None:
        ticks = [f"{t}\n{counts.get(m, 0)} ev." for t, m in zip(ticks, multiplicities, strict=True)]
        for i, m in enumerate(multiplicities):
            if counts.get(m, 0) < SMALL_SAMPLE:
                ax.axvspan(i - 0.5, i + 0.5, color="0.9", zorder=0, lw=0)
                ax.text(i, 0.03, f"< {SMALL_SAMPLE}\nevents", ha="center", fontsize=8, color="0.3")
    ax.set_xticks(x, ticks)
    ax.set_xlim(-0.5, len(x) - 0.5)
    ax.set_xlabel("number of jets")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    if title:
        ax.set_title(title, fontsize=13, pad=22)
    _decorate(ax, sample)
    ax.set_ylim(0, 1.0 + 0.08 * (len(accuracy) + 1))
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(fontsize=9, loc="upper right", frameon=False, ncols=2)
    return _save(fig, Path(out_dir), name, histograms)


def _finite(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _block_ticks(ax, mtt_edges: Sequence[float], ptt_edges: Sequence[float], axis: str) -> None:
    """Flat (m_tt-major) bin ticks labelled with their pT_t range, m_tt blocks separated by lines
    and labelled with their m_tt range, all in GeV."""
    n_ptt = len(ptt_edges) - 1
    n = (len(mtt_edges) - 1) * n_ptt
    labels = [f"{ptt_edges[j]:g}–{ptt_edges[j + 1]:g}" for j in range(n_ptt)] * (n // n_ptt)
    set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
    set_ticks(np.arange(n), labels, fontsize=7, rotation=90 if axis == "x" else 0)
    for i in range(1, len(mtt_edges) - 1):
        line = ax.axvline if axis == "x" else ax.axhline
        line(i * n_ptt - 0.5, color="white", lw=1.5)
    for i in range(len(mtt_edges) - 1):
        text = f"{mtt_edges[i]:g}–{mtt_edges[i + 1]:g}"
        centre = i * n_ptt + (n_ptt - 1) / 2
        if axis == "x":
            ax.text(centre, 1.01, text, transform=ax.get_xaxis_transform(), ha="center", fontsize=8)
        else:
            ax.text(1.01, centre, text, transform=ax.get_yaxis_transform(), va="center",
                    fontsize=8, rotation=90)  # fmt: skip


def plot_study(study, out_dir: str | Path, sample: str = "") -> list[Path]:
    """Unfolding figures of a :class:`~nuanalysis.unfold_study.UnfoldStudy`: per method its
    response (migration probabilities, bins labelled in GeV) and the unfolded spectrum per
    pT_t bin in events / GeV against the truth, with the D'Agostini cross-check; then the
    relative uncertainties and their ratio to the truth-ν result, per pT_t bin vs m_tt."""
    out = Path(out_dir)
    written = []
    degenerate = study.degenerate_warning()

    def save(fig, name: str, histograms: Mapping[str, hist.Hist] | None = None) -> Path:
        # a result the sample cannot support says so on every figure
        return _save(fig, out, name, histograms, warning=degenerate)

    mtt_edges = np.asarray(study.mtt_edges, dtype=float)
    n_ptt = len(study.ptt_edges) - 1
    widths = np.diff(mtt_edges)[:, None]
    pt_titles = [
        f"$p_T^t$ {study.ptt_edges[j]:g}–{study.ptt_edges[j + 1]:g} GeV" for j in range(n_ptt)
    ]
    for name, m in study.methods.items():
        fig, axes = _figure(width=8.5, height=7.5)
        ax = axes[0, 0]
        image = ax.imshow(
            np.ma.masked_equal(m.response.migration, 0.0), origin="lower", cmap="viridis",
            norm=LogNorm(vmin=MIGRATION_FLOOR, vmax=1.0),
        )  # fmt: skip
        fig.colorbar(image, ax=ax, label="P(reco bin | truth bin)")
        _block_ticks(ax, study.mtt_edges, study.ptt_edges, "x")
        _block_ticks(ax, study.mtt_edges, study.ptt_edges, "y")
        ax.set_xlabel(r"truth $p_T^t$ [GeV] in $m_{t\bar{t}}$ blocks [GeV] (top)")
        ax.set_ylabel(r"reco $p_T^t$ [GeV] in $m_{t\bar{t}}$ blocks [GeV] (right)")
        ax.set_title(
            f"{label(name)}: response, mean efficiency {m.response.efficiency.mean():.2f}",
            fontsize=12, pad=30,
        )  # fmt: skip
        written.append(save(fig, f"response_{name}", {"migration": _migration_hist(m.response)}))

        fig, axes = _figure(ncols=n_ptt, width=5.5, height=5.0)
        unfolded = m.response.reshape(m.result.unfolded) / widths
        sigma = m.response.reshape(m.result.uncertainty) / widths
        truth = m.response.reshape(m.truth) / widths
        bayes = m.response.reshape(m.bayes.unfolded) / widths
        bayes_sigma = m.response.reshape(m.bayes.uncertainty) / widths
        centres = 0.5 * (mtt_edges[1:] + mtt_edges[:-1])
        for j, ax in enumerate(axes[0]):
            ax.stairs(truth[:, j], mtt_edges, label="truth (odd entries)", color="black")
            ax.errorbar(
                centres - 0.05 * widths[:, 0], unfolded[:, j], sigma[:, j], fmt="o",
                color=color(name), label=study.setting(),
            )  # fmt: skip
            ax.errorbar(
                centres + 0.05 * widths[:, 0], bayes[:, j], bayes_sigma[:, j], fmt="x",
                color="grey", label=f"D'Agostini cross-check ({m.bayes.regularisation:g} it.)",
            )  # fmt: skip
            ax.set_xlabel(r"$m_{t\bar{t}}$ [GeV]")
            ax.set_xlim(mtt_edges[0], mtt_edges[-1])
            ax.set_ylabel("events / GeV")
            ax.set_title(f"{label(name)}, {pt_titles[j]}", fontsize=12, pad=22)
            _decorate(ax, sample)
            _legend(ax)
        histograms = {
            "truth": m.response.to_hist(m.truth),
            study.algorithm: m.response.to_hist(m.result.unfolded, np.square(m.result.uncertainty)),
            "dagostini": m.response.to_hist(m.bayes.unfolded, np.square(m.bayes.uncertainty)),
        }
        written.append(save(fig, f"unfolded_{name}", histograms))

    ratios = {
        name: m.ratio_to_truth
        for name, m in study.methods.items()
        if m.ratio_to_truth is not None and name != reference_method()
    }
    nrows = 2 if ratios else 1
    fig, axes = _figure(ncols=n_ptt, nrows=nrows, width=5.5, height=4.5, sharex="col")
    histograms = {}
    for name, m in study.methods.items():
        style = {"label": label(name), "color": color(name)}
        relative = m.response.reshape(100 * m.rel_uncertainty)
        histograms[f"rel_uncertainty_{name}"] = m.response.to_hist(100 * m.rel_uncertainty)
        for j in range(n_ptt):
            axes[0, j].stairs(relative[:, j], mtt_edges, baseline=None, **style)
        if name in ratios:
            histograms[f"ratio_to_truth_{name}"] = m.response.to_hist(ratios[name])
            for j in range(n_ptt):
                ratio = m.response.reshape(ratios[name])[:, j]
                axes[1, j].stairs(ratio, mtt_edges, baseline=None, **style)
    for j in range(n_ptt):
        axes[0, j].set_title(pt_titles[j], fontsize=12, pad=22)
        axes[0, j].set_ylabel("relative uncertainty [%]")
        _decorate(axes[0, j], sample)
        _legend(axes[0, j])
        axes[-1, j].set_xlabel(r"$m_{t\bar{t}}$ [GeV]")
        axes[-1, j].set_xlim(mtt_edges[0], mtt_edges[-1])
        if ratios:
            axes[1, j].axhline(1.0, color="black", lw=1)
            axes[1, j].set_ylabel(r"ratio to truth $\nu$")
            _legend(axes[1, j])
    fig.suptitle(f"{study.setting()}, backend {study.backend}", fontsize=13)
    written.append(save(fig, "uncertainty_ratios", histograms))
    shifted = {name: m for name, m in study.methods.items() if m.shifts}
    if shifted:
        groups = list(next(iter(shifted.values())).systematics)
        fig, axes = _figure(ncols=len(groups), width=5.0, height=4.5)
        for ax, group in zip(axes[0], groups, strict=True):
            for name, m in shifted.items():
                relative = 100 * np.abs(m.systematics[group]) / np.abs(m.result.unfolded)
                ax.stairs(relative, np.arange(len(relative) + 1), baseline=None,
                          label=label(name), color=color(name))  # fmt: skip
            ax.set_xlabel("bin (m_tt-major)")
            ax.set_ylabel("|shift| / unfolded [%]")
            ax.set_title(f"{group} variation", fontsize=12, pad=22)
            _decorate(ax, sample)
            _legend(ax)
        written.append(save(fig, "systematics"))
    scans = {name: m.scan for name, m in study.methods.items() if m.scan is not None}
    if scans:
        written.append(plot_bias_uncertainty(scans, out, sample, degenerate))
    return written


def plot_bias_uncertainty(
    scans: Mapping, out_dir: str | Path, sample: str = "", warning: str | None = None
) -> Path:
    """The equal-bias comparison (:mod:`nuanalysis.unfold_scan`): per method, one curve over
    the regularisation (SVD k, TUnfold τ or D'Agostini iterations) of the mean per-bin
    relative uncertainty against the RMS closure bias (left; the lower curve is the better
    method) and the uncertainty against the regularisation (right); ``warning``
    (a degenerate result) is printed in red below."""
    fig, axes = _figure(ncols=2, width=5.5, height=5.0)
    left, right = axes[0]
    for name, scan in scans.items():
        style = {"label": label(name), "color": color(name), "marker": "o", "ms": 4}
        bias, sigma = (
            100 * np.asarray(scan.rms_bias),
            100 * np.asarray(scan.mean_rel_uncertainty_total),
        )
        left.errorbar(bias, sigma, xerr=100 * np.asarray(scan.rms_bias_error), **style)
        for value, x, y in zip(scan.values, bias, sigma, strict=True):
            left.annotate(
                f"{value:.2g}", (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points"
            )
        right.plot(scan.values, sigma, **style)
        parameter = scan.parameter
    left.set_xlabel(f"RMS closure bias [%] (labels: {parameter})")
    left.set_ylabel("mean per-bin relative uncertainty [%]\n(stat with response MC stat)")
    right.set_xlabel(
        {"k": "SVD regularisation k", "tau": "TUnfold τ", "iterations": "D'Agostini iterations"}[
            parameter
        ]
    )
    if parameter != "k":
        right.set_xscale("log")
    right.set_ylabel("mean per-bin relative uncertainty [%]\n(stat with response MC stat)")
    for ax in (left, right):
        ax.set_yscale("log")
        _decorate(ax, sample)
        _legend(ax)
    return _save(fig, Path(out_dir), "bias_uncertainty", warning=warning)


def _migration_hist(response) -> hist.Hist:
    """The migration matrix over flat (m_tt-major) truth and reco bin indices."""
    n = response.migration.shape[0]
    h = hist.Hist(
        hist.axis.Integer(0, n, name="truth", label="truth bin (m_tt-major)"),
        hist.axis.Integer(0, n, name="reco", label="reco bin (m_tt-major)"),
    )
    h.view()[...] = np.asarray(response.migration).T
    return h


MASS_OBSERVABLES = {"mblnu": r"$m(b\ell\nu)$", "mbl": r"$m_{b\ell}$"}
"""Axis symbols of the top-mass observables (:mod:`nuanalysis.masscan`): means of both tops."""


def _mass_row_color(name: str) -> str:
    return "tab:olive" if name == "mbl" else color(name)


def _mass_row_label(name: str, scan) -> str:
    if scan.observable == "mbl":
        return r"$m_{b\ell}$ (no $\nu$)"
    return label(name) + (f", {scan.n_draws} draws" if scan.n_draws > 1 else "")


def plot_mass_templates(study, out_dir: str | Path, sample: str = "") -> Path:
    """One panel per method: its normalised templates (per GeV) at every true m_t, with
    their statistical errors (√Σ f², :class:`nuanalysis.masscan.Template`)."""
    scans = study.methods
    ncols = min(3, len(scans))
    nrows = -(-len(scans) // ncols)
    fig, axes = _figure(ncols=ncols, nrows=nrows, width=5.0, height=4.5)
    colours = plt.cm.coolwarm(np.linspace(0.0, 1.0, len(next(iter(scans.values())).masses)))
    histograms = {}
    for ax, (name, scan) in zip(axes.ravel(), scans.items(), strict=False):
        for mass_value, template, colour in zip(scan.masses, scan.templates, colours, strict=True):
            widths = np.diff(template.edges)
            scale = 1.0 / (template.total * widths) if template.total > 0 else 0.0 * widths
            hep.histplot(
                template.values * scale,
                template.edges,
                yerr=np.sqrt(template.variance) * scale,
                ax=ax,
                color=colour,
                label=rf"$m_t$ = {mass_value:g} GeV",
            )
            h = hist.Hist(hist.axis.Variable(template.edges, name=scan.observable))
            h.view()[...] = template.values
            histograms[f"{name}_{mass_value:g}".replace(".", "p").replace("-", "_")] = h
        symbol = MASS_OBSERVABLES[scan.observable]
        ax.set_xlabel(f"{symbol} [GeV]")
        ax.set_ylabel(r"$1/N\ dN/d$" + symbol + " [1/GeV]")
        _decorate(ax, f"{sample}\n{_mass_row_label(name, scan)}" if sample else "")
        _legend(ax)
    for ax in axes.ravel()[len(scans) :]:
        ax.set_visible(False)
    return _save(fig, Path(out_dir), "mass_templates", histograms)


def plot_mass_calibration(study, out_dir: str | Path, sample: str = "") -> Path:
    """Left: each method's window mean against the true m_t with its fitted line (legend: the
    slope), both relative to the line at the samples' mean mass so that every observable shares
    the axis; right: the template fit to the pseudo-data minus the true m_t (σ: bootstrap) and
    the calibration line."""
    fig, axes = _figure(ncols=2, width=5.5, height=5.0)
    left, right = axes[0]
    n = len(study.methods)
    for i, (name, scan) in enumerate(study.methods.items()):
        style = {"color": _mass_row_color(name), "marker": "o", "ms": 4, "ls": "none"}
        masses = np.asarray(scan.masses)
        slope = scan.slope
        left.errorbar(
            masses,
            np.asarray(scan.means) - slope.intercept,
            yerr=scan.mean_errors,
            label=f"{_mass_row_label(name, scan)}: slope {slope.slope:.2f}",
            **style,
        )
        if np.isfinite(slope.slope):
            line = np.linspace(masses.min(), masses.max(), 2)
            left.plot(line, slope.slope * (line - slope.pivot), color=style["color"])
        offset = (i - (n - 1) / 2) * 0.12
        k = scan.calibration
        if np.isfinite(k.slope):
            line = np.linspace(masses.min(), masses.max(), 2)
            right.plot(line, k.intercept + k.slope * (line - k.pivot) - line, color=style["color"])
        right.errorbar(
            masses + offset,
            [f.fitted - f.true_mass for f in scan.fits],
            yerr=[f.error for f in scan.fits],
            label=f"{_mass_row_label(name, scan)}: k = {k.slope:.2f} ± {k.error:.2f}"
            + ("" if scan.calibratable else " (does not follow $m_t$)"),
            **style,
        )
    right.axhline(0.0, color="0.5", lw=1, zorder=0)
    left.set_ylabel(r"window mean $-$ line at $\langle m_t \rangle$ [GeV]")
    right.set_ylabel(r"fitted $-$ true $m_t$ [GeV]")
    for ax in (left, right):
        ax.set_xlabel(r"true $m_t$ [GeV]")
        ax.margins(x=0.08)
        _decorate(ax, sample)
        _legend(ax)
    return _save(fig, Path(out_dir), "mass_calibration")


def plot_mass_likelihood(study, out_dir: str | Path, sample: str = "") -> Path:
    """−2Δln L of each method's template fit to the pseudo-data nearest m_t = 172.5 GeV; no σ
    in the legend where the fits do not follow m_t (:meth:`MethodScan.fit_withheld`)."""
    fig, axes = _figure(width=8.0, height=5.5)
    ax = axes[0, 0]
    true_mass = None
    for name, scan in study.methods.items():
        fit = scan.central_fit()
        true_mass = fit.true_mass
        fit_text = f"{fit.fitted:.1f} ± {fit.error:.1f} GeV"
        ax.plot(
            fit.grid,
            fit.scan,
            color=_mass_row_color(name),
            label=f"{_mass_row_label(name, scan)}: "
            + ("no σ: no $m_t$ sensitivity" if scan.fit_withheld(fit) else fit_text),
        )
    ax.axhline(1.0, color="0.5", lw=1, ls="--", zorder=0)
    if true_mass is not None:
        ax.axvline(true_mass, color="0.5", lw=1, zorder=0)
    ax.set_ylim(0.0, 10.0)
    ax.set_xlabel(r"$m_t$ [GeV]")
    ax.set_ylabel(r"$-2\Delta\ln L$")
    _decorate(ax, f"{sample}\npseudo-data at $m_t$ = {true_mass:g} GeV" if sample else "")
    _legend(ax)
    return _save(fig, Path(out_dir), "mass_likelihood")
