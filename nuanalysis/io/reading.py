"""Reading schema v1 ntuples: each file opened once, each entry read and checked once.

Like uproot separates the source from the interpretation, :class:`NtupleFile`
opens a file once and plans which of its branches to read; :func:`chunks` reads
entry ranges of files and interprets them as schema-named columns (mapping
renames, merges, unit scale, energies → masses, pT order), which
:func:`~nuanalysis.io.checks.check_columns` checks once. The checked columns
then become awkward events (:func:`read_events`, :func:`iterate_events`) or,
padded, the numpy arrays the methods take (:func:`iterate_padded`,
:func:`load_padded`). Errors are :class:`~nuanalysis.errors.InputError` or
:class:`~nuanalysis.errors.ChannelError` naming the file, branch and entry.
"""

from __future__ import annotations

import glob
import importlib.resources
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import vector

from nuanalysis import schema
from nuanalysis.errors import ChannelError, InputError, NuAnalysisError, first_line
from nuanalysis.io.checks import (
    Columns,
    check_columns,
    check_energy,
    check_exact,
    check_structure,
    lepton_channel,
)
from nuanalysis.io.padding import pad_columns
from nuanalysis.mapping import BranchMapping, Source, as_mapping, mapping_suggestion
from nuanalysis.padded import CHANNELS, PaddedEvents

vector.register_awkward()

PathLike = str | Path
MappingLike = BranchMapping | dict | PathLike | None

_OPTIONAL_GROUPS = {
    "jet_match": ("jet_match",),
    "weight": ("weight",),
    "truth_nu": tuple(b.name for b in schema.BRANCHES if b.collection == "truth_nu"),
    "truth_parton": tuple(b.name for b in schema.BRANCHES if b.collection == "truth_parton"),
    "truth_top": tuple(b.name for b in schema.BRANCHES if b.collection == "truth_top"),
    "truth_antitop": tuple(b.name for b in schema.BRANCHES if b.collection == "truth_antitop"),
}


def _mapping_hint(mapping: BranchMapping) -> str:
    if mapping.is_identity:
        return (
            "if this ntuple uses other tree or branch names or units, read it through a "
            f"mapping ({mapping_suggestion()})"
        )
    return f"check the mapping {mapping.source}"


def expand_paths(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    """Input paths with glob patterns expanded (sorted); a clear error for a missing file."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise InputError("no input files given")
    expanded: list[Path] = []
    for item in items:
        text = str(item)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputError(f"no input file matches {text!r}")
            expanded.extend(Path(m) for m in matches)
        else:
            expanded.append(Path(item))
    for path in expanded:
        if not path.is_file():
            raise InputError(f"input file not found: {path}")
    return expanded


@contextmanager
def _wrap_read_errors(path: Path):
    """Turn uproot's exceptions on a damaged file into an InputError naming it."""
    try:
        yield
    except NuAnalysisError:
        raise
    except Exception as exc:
        raise InputError(
            f"{path}: cannot be read as a ROOT file (corrupt or truncated?): "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from exc


def _get_tree(file, path: Path, mapping: BranchMapping):
    names = file.keys(cycle=False)
    if mapping.tree not in names:
        raise InputError(
            f"{path}: no tree {mapping.tree!r} (the file holds {sorted(names)}); "
            + _mapping_hint(mapping)
        )
    tree = file[mapping.tree]
    if not isinstance(tree, uproot.behaviors.TTree.TTree):
        raise InputError(
            f"{path}: {mapping.tree!r} is a {type(tree).__name__}, not a TTree "
            "(RNTuples are not supported; write files with nuanalysis.io.write_ntuple)"
        )
    if tree.num_entries == 0:
        raise InputError(f"{path}: tree {mapping.tree!r} has no entries")
    return tree


def _names(source: Source) -> list[str]:
    """The branch names a mapping source reads (constants excluded)."""
    return [source] if isinstance(source, str) else [s for s in source if isinstance(s, str)]


def _label(source: Source) -> str:
    """How a source is named in messages: ``'jet_pt'`` or ``'el_pt' + 'mu_pt'``."""
    return " + ".join(repr(str(s)) for s in ([source] if isinstance(source, str) else source))


def _plan(tree, path: Path, mapping: BranchMapping) -> dict[str, Source]:
    """Schema name -> where the file holds it, for every branch to read."""
    available = set(tree.keys()) | set(tree.keys(full_paths=False))  # split objects: "Jet.PT"

    def absent(source: Source) -> list[str]:
        return [n for n in _names(source) if n not in available]

    missing = [n for n in schema.REQUIRED if absent(mapping.foreign(n))]
    if missing:
        shown = ", ".join(
            repr(n)
            if mapping.foreign(n) == n
            else f"{n!r} (mapped to {_label(mapping.foreign(n))})"
            for n in missing
        )
        raise InputError(f"{path}: missing required branch(es) {shown}; {_mapping_hint(mapping)}")
    plan = {n: mapping.foreign(n) for n in schema.REQUIRED}
    for group, names in _OPTIONAL_GROUPS.items():
        sources = {n: mapping.foreign(n) for n in names}
        if any(source is None for source in sources.values()):
            continue  # not listed for a merged collection: absent
        lacking = [m for source in sources.values() for m in absent(source)]
        if not lacking:
            plan.update(sources)
        elif len(lacking) < sum(len(_names(source)) for source in sources.values()):
            raise InputError(
                f"{path}: the {group} branches are incomplete: missing {lacking}; "
                + _mapping_hint(mapping)
            )
    return plan


def _column(
    name: str, plan: dict, arrays: dict, mapping: BranchMapping, path: Path, offset: int
) -> ak.Array:
    """Schema branch ``name`` from the file's arrays: merged, scaled, checked exact for its
    schema type (:func:`check_exact`), b-tag scores cut at the working point, cast, |pid|."""
    spec = schema.BY_NAME[name]
    source = plan[name]
    if isinstance(source, str):
        array = arrays[source]
    else:  # merge collections; a constant takes the structure of that part's pT
        reference = plan[f"{spec.collection}_pt"]
        parts = [
            arrays[item] if isinstance(item, str) else ak.zeros_like(arrays[reference[k]]) + item
            for k, item in enumerate(source)
        ]
        array = ak.concatenate(parts, axis=1)
    if spec.shape == "flat" and array.ndim == 2:  # a one-object collection (Delphes MissingET)
        counts = ak.to_numpy(ak.num(array, axis=1))
        if (counts != 1).any():
            i = int(np.argmax(counts != 1))
            raise InputError(
                f"{path}: branch {_label(source)} for {name!r} must hold one value per event; "
                f"entry {offset + i} has {counts[i]}"
            )
        array = ak.firsts(array, axis=1)
    if spec.scaled and mapping.scale != 1.0:
        array = array * mapping.scale
    scores = spec.dtype == np.bool_ and mapping.btag_working_point is not None
    check_exact(array, spec, _label(source), str(path), offset, scores)
    if scores:
        return ak.values_astype(array, np.float64) >= mapping.btag_working_point
    if spec.dtype == np.bool_:
        return array != 0
    if name == "lep_pid":
        array = abs(array)
    return ak.values_astype(array, spec.dtype)


def _mass_from_energy(energy: ak.Array, pt: ak.Array, eta: ak.Array) -> ak.Array:
    """m = sqrt(E² − (pT cosh η)²) in float64, for energies :func:`check_energy` passed:
    an m² negative only by rounding becomes 0."""
    p = ak.values_astype(pt, np.float64) * np.cosh(ak.values_astype(eta, np.float64))
    m2 = ak.values_astype(energy, np.float64) ** 2 - p**2
    return ak.values_astype(np.sqrt(np.maximum(m2, 0.0)), np.float32)


@dataclass
class Chunk:
    """Checked columns of entries ``offset`` … ``offset + len`` of ``path``, of ``channel``."""

    columns: Columns
    channel: str
    path: Path
    offset: int

    def __len__(self) -> int:
        return len(self.columns["met"])


class NtupleFile:
    """One input file, opened once: its tree and the branches a mapping reads from it.

    Use as a context manager; :meth:`columns` interprets entry ranges as
    schema-named columns, :meth:`checked` checks them too and :meth:`padded`
    pads them: each entry of a range read, checked and padded once.
    """

    def __init__(self, path: PathLike, mapping: MappingLike = None):
        self.path = Path(path)
        self.mapping = as_mapping(mapping)
        with _wrap_read_errors(self.path):
            self._file = uproot.open(self.path)
            try:
                self.tree = _get_tree(self._file, self.path, self.mapping)
                self.plan = _plan(self.tree, self.path, self.mapping)
            except BaseException:
                self._file.close()
                raise
        self.num_entries = int(self.tree.num_entries)
        self.labels = {name: _label(source) for name, source in self.plan.items()}

    def columns(
        self, entry_start: int, entry_stop: int, step_size: int | str | None
    ) -> Iterator[tuple[Columns, int]]:
        """Schema-named columns of entries ``[entry_start, entry_stop)`` and each piece's
        first entry, in pieces of ``step_size`` entries or bytes (None: one piece)."""
        foreign = sorted({n for source in self.plan.values() for n in _names(source)})
        with _wrap_read_errors(self.path):
            if step_size is None:
                arrays = self.tree.arrays(
                    foreign, entry_start=entry_start, entry_stop=entry_stop, how=dict
                )
                pieces: Iterator = iter([(arrays, entry_start)])
            else:
                pieces = (
                    (arrays, report.tree_entry_start)
                    for arrays, report in self.tree.iterate(
                        foreign,
                        step_size=step_size,
                        entry_start=entry_start,
                        entry_stop=entry_stop,
                        how=dict,
                        report=True,
                    )
                )
            for arrays, offset in pieces:
                yield self._interpret(arrays, offset), offset

    def checked(
        self,
        entry_start: int,
        entry_stop: int,
        step_size: int | str | None,
        channel: str | None = None,
    ) -> Iterator[Chunk]:
        """Checked chunks of entries ``[entry_start, entry_stop)``; ``channel`` (default:
        detected from the first entry) is enforced on every entry."""
        hint = ""
        if not self.mapping.is_identity:
            hint = (
                f" (read through {self.mapping.source} with scale = {self.mapping.scale:g}: "
                "check it)"
            )
        for columns, offset in self.columns(entry_start, entry_stop, step_size):
            channel = check_columns(columns, self.labels, str(self.path), offset, channel, hint)
            yield Chunk(columns, channel, self.path, offset)

    def padded(
        self,
        entry_start: int,
        entry_stop: int,
        step_size: int | str | None,
        channel: str | None = None,
    ) -> Iterator[PaddedEvents]:
        """Like :meth:`checked`, padded (:func:`~nuanalysis.io.padding.pad_columns`)."""
        for chunk in self.checked(entry_start, entry_stop, step_size, channel):
            yield pad_columns(chunk.columns, chunk.channel)

    def _interpret(self, arrays: dict, offset: int) -> Columns:
        mapping, path = self.mapping, self.path
        columns = {
            name: _column(name, self.plan, arrays, mapping, path, offset) for name in self.plan
        }
        check_structure(columns, self.labels, str(path), offset)
        for name in self.plan:
            if mapping.reads_energy(name):
                collection = schema.BY_NAME[name].collection
                pt, eta = columns[f"{collection}_pt"], columns[f"{collection}_eta"]
                check_energy(columns[name], pt, eta, self.labels[name], str(path), offset)
                columns[name] = _mass_from_energy(columns[name], pt, eta)
        for collection in _sorted_collections(mapping):
            order = ak.argsort(columns[f"{collection}_pt"], axis=1, ascending=False, stable=True)
            for name in self.plan:
                if schema.BY_NAME[name].collection == collection:
                    columns[name] = columns[name][order]
        return columns

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> NtupleFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def chunks(
    paths: PathLike | Sequence[PathLike],
    mapping: MappingLike = None,
    channel: str | None = None,
    entry_start: int = 0,
    entry_stop: int | None = None,
    step_size: int | str | None = None,
) -> Iterator[Chunk]:
    """Read and check each entry once: checked chunks over files in order.

    ``entry_start`` is an entry of the first file; ``entry_stop`` the entry to stop
    before, counting the files' entries in order (a cap on the total when
    ``entry_start`` is 0). ``channel`` (default: detected from the first entry)
    is enforced on every entry; ``step_size=None`` reads each file at once.
    """
    mapping = as_mapping(mapping)
    if entry_stop is not None and entry_stop < 1:
        raise InputError(f"entry_stop / max_events must be at least 1, got {entry_stop}")
    remaining = None if entry_stop is None else entry_stop - entry_start
    truth_groups = None
    for path in expand_paths(paths):
        if remaining is not None and remaining <= 0:
            return
        with NtupleFile(path, mapping) as source:
            stop = source.num_entries
            if remaining is not None:
                stop = min(stop, entry_start + remaining)
            for chunk in source.checked(entry_start, stop, step_size, channel):
                channel = chunk.channel
                groups = sorted(
                    g for g, names in _OPTIONAL_GROUPS.items() if names[0] in chunk.columns
                )
                truth = [g for g in groups if g.startswith("truth")]
                if truth_groups is None:
                    truth_groups = truth
                elif truth != truth_groups:
                    raise InputError(
                        f"{path}: truth content {truth} differs from the earlier files' "
                        f"{truth_groups}; read files with the same branches together"
                    )
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        entry_start = 0


def _sorted_collections(mapping: BranchMapping) -> list[str]:
    """Collections the reader pT-orders: merged ones, and jets and leptons if the mapping
    asks (``sort_by_pt``); the others' order is checked instead."""
    merged = list(mapping.merged_collections)
    if mapping.sort_by_pt:
        merged += [c for c in ("jet", "lep") if c not in merged]
    return merged


def _momentum4d(fields: dict) -> ak.Array:
    return ak.zip(fields, with_name="Momentum4D")


def _build_events(columns: Columns) -> ak.Array:
    """Zip schema-named columns into event records with vector behaviour."""
    jets = {f: columns[f"jet_{f}"] for f in ("pt", "eta", "phi", "mass", "btag")}
    jets["match"] = columns.get(
        "jet_match", ak.values_astype(ak.zeros_like(columns["jet_pt"]) - 1, np.int8)
    )
    leptons = {f: columns[f"lep_{f}"] for f in ("pt", "eta", "phi", "mass", "charge", "pid")}
    n = len(columns["met"])
    record = {
        "jets": _momentum4d(jets),
        "leptons": _momentum4d(leptons),
        "met": ak.zip({"pt": columns["met"], "phi": columns["met_phi"]}, with_name="Momentum2D"),
        "weight": columns.get("weight", ak.Array(np.ones(n, dtype=np.float32))),
    }
    truth = {}
    if "truth_nu_pt" in columns:
        nu = {f: columns[f"truth_nu_{f}"] for f in ("pt", "eta", "phi")}
        truth["neutrinos"] = _momentum4d(
            {**nu, "mass": ak.zeros_like(nu["pt"]), "pid": columns["truth_nu_pid"]}
        )
    if "truth_parton_pt" in columns:
        truth["partons"] = _momentum4d(
            {f: columns[f"truth_parton_{f}"] for f in ("pt", "eta", "phi", "mass", "pid")}
        )
    for name in ("top", "antitop"):
        if f"truth_{name}_pt" in columns:
            truth[name] = _momentum4d(
                {f: columns[f"truth_{name}_{f}"] for f in ("pt", "eta", "phi", "mass")}
            )
    if truth:
        record["truth"] = ak.zip(truth, depth_limit=1)
    return ak.zip(record, depth_limit=1)


def read_events(
    paths: PathLike | Sequence[PathLike],
    mapping: MappingLike = None,
    channel: str | None = None,
    entry_stop: int | None = None,
) -> ak.Array:
    """Read schema v1 ntuples into one awkward array of events.

    Fields: ``jets`` (Momentum4D + ``btag``, ``match``), ``leptons`` (Momentum4D
    + ``charge``, ``pid``), ``met`` (Momentum2D ``pt``, ``phi``), ``weight`` and,
    where the files have truth branches, ``truth.neutrinos`` (massless
    Momentum4D + ``pid``), ``truth.partons`` (6 per event, + ``pid``),
    ``truth.top``, ``truth.antitop``. ``entry_stop`` caps the total number of
    events over all files. ``channel`` (default: detected from the first file)
    is enforced on every entry of every file.
    """
    parts = [_build_events(c.columns) for c in chunks(paths, mapping, channel, 0, entry_stop)]
    return parts[0] if len(parts) == 1 else ak.concatenate(parts)


def iterate_events(
    paths: PathLike | Sequence[PathLike],
    step_size: int | str = "100 MB",
    mapping: MappingLike = None,
    channel: str | None = None,
    entry_stop: int | None = None,
) -> Iterator[ak.Array]:
    """Like :func:`read_events`, in chunks of ``step_size`` entries (int) or bytes ("100 MB")."""
    for chunk in chunks(paths, mapping, channel, 0, entry_stop, step_size):
        yield _build_events(chunk.columns)


def iterate_padded(
    paths: PathLike | Sequence[PathLike],
    step_size: int | str = "100 MB",
    mapping: MappingLike = None,
    channel: str | None = None,
    entry_start: int = 0,
    entry_stop: int | None = None,
) -> Iterator[PaddedEvents]:
    """Checked, padded chunks: each entry read, checked and padded once.

    ``entry_start`` is an entry of the first file (a worker starting mid-file),
    ``entry_stop`` as in :func:`chunks`. Chunks of an int ``step_size``
    start at ``entry_start`` + k·``step_size``.
    """
    for chunk in chunks(paths, mapping, channel, entry_start, entry_stop, step_size):
        yield pad_columns(chunk.columns, chunk.channel)


def load_padded(
    path: PathLike | Sequence[PathLike],
    channel: str | None = None,
    max_events: int | None = None,
    mapping: MappingLike = None,
    step_size: int | str = "100 MB",
) -> PaddedEvents:
    """Read files chunk by chunk straight into one :class:`PaddedEvents`."""
    parts = list(iterate_padded(path, step_size, mapping, channel, entry_stop=max_events))
    return PaddedEvents.concatenate(parts)


def detect_channel(events: ak.Array) -> str:
    """``semileptonic`` (one lepton per event) or ``dilepton`` (two); else ChannelError."""
    if len(events) == 0:
        raise InputError("no events: cannot detect the channel")
    return lepton_channel(ak.to_numpy(ak.num(events.leptons, axis=1)), None, "events")


def demo_sample_path(channel: str) -> Path:
    """The demo ntuple shipped in the package: ``nuanalysis/data/demo_<channel>.root``."""
    if channel not in CHANNELS:
        raise ChannelError(f"unknown channel {channel!r}; choose one of {CHANNELS}")
    resource = importlib.resources.files("nuanalysis") / "data" / f"demo_{channel}.root"
    path = Path(str(resource))
    if not path.is_file():
        raise InputError(
            f"demo sample {path} is missing from the installation; make one with "
            f"'nuanalysis generate --channel {channel} --events 20000 --out {path.name}'"
        )
    return path
