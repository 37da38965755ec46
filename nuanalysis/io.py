"""Ntuple I/O: schema v1 TTrees in, awkward events with vector behaviour out, padded numpy once.

Writing (:class:`NtupleWriter`, :func:`write_ntuple`) uses uproot's
``mktree``/``extend``, so files are classic TTrees that ROOT reads directly.
Branches of one jagged collection (``jet_*``, ``lep_*``, ``truth_nu_*``, or any
extra ``<prefix>_<field>`` group of equal multiplicity such as ``nw_nu_px``,
``nw_nu_py``) share one counter branch ``n<prefix>`` (``njet``, ``nlep``,
``ntruth_nu``, ``nnw_nu``; characters other than letters, digits and ``_``
become ``_`` in the counter name).

Reading (:func:`read_events`, :func:`iterate_events`) validates every file —
existence, readability, tree, branches, emptiness, finite momenta, lepton
multiplicity and charges, at least one jet — and raises :class:`~nuanalysis.errors.InputError` or
:class:`~nuanalysis.errors.ChannelError` naming the file, branch and entry, so
bad input never reaches numba or torch. :func:`to_padded` is the one
awkward → numpy conversion (:class:`~nuanalysis.padded.PaddedEvents`).
"""

from __future__ import annotations

import glob
import importlib.resources
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import vector

from nuanalysis import schema
from nuanalysis.errors import ChannelError, InputError, NuAnalysisError
from nuanalysis.kinematics import from_pt_eta_phi_m
from nuanalysis.mapping import BranchMapping, Source, as_mapping
from nuanalysis.padded import CHANNELS, MAX_JETS, N_LEPTONS, N_NEUTRINOS, PaddedEvents

vector.register_awkward()

PathLike = str | Path
Branches = dict[str, "ak.Array | np.ndarray"]

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
            "mapping file (mapping=..., example: nuanalysis/data/mappings/atlas_mev.toml)"
        )
    return f"check the mapping {mapping.source}"


# --------------------------------------------------------------------------- writing


def _as_column(name: str, value) -> ak.Array | np.ndarray:
    """A branch value as a numpy array (flat or fixed-size) or a jagged awkward array."""
    if isinstance(value, np.ndarray):
        column = value
    else:
        array = ak.Array(value)
        if array.ndim == 1 or not _is_jagged(array):
            try:
                column = ak.to_numpy(array, allow_missing=False)
            except ValueError as exc:
                raise InputError(f"branch {name!r}: cannot be written ({exc})") from exc
        else:
            column = array
    if column.ndim > 2:
        raise InputError(f"branch {name!r}: only one level of nesting can be written")
    spec = schema.BY_NAME.get(name)
    if spec is None:  # extra branches: 2-D arrays become jagged with a counter
        return ak.from_regular(ak.Array(column), axis=1) if column.ndim == 2 else column
    if spec.shape == "fixed" and (
        not isinstance(column, np.ndarray) or column.shape[1:] != (schema.N_PARTONS,)
    ):
        raise InputError(f"branch {name!r} must have shape (n, {schema.N_PARTONS})")
    if spec.shape == "jagged" and isinstance(column, np.ndarray) and column.ndim == 2:
        column = ak.from_regular(ak.Array(column), axis=1)
    if spec.shape == "flat" and (not isinstance(column, np.ndarray) or column.ndim != 1):
        raise InputError(f"branch {name!r} must have one value per event")
    if isinstance(column, np.ndarray):
        return column.astype(spec.dtype, copy=False)
    return ak.values_astype(column, spec.dtype)


def _is_jagged(array: ak.Array) -> bool:
    return isinstance(array.type.content, ak.types.ListType)


def _collection(name: str) -> str:
    spec = schema.BY_NAME.get(name)
    if spec is not None:
        return spec.collection
    return name.rsplit("_", 1)[0] if "_" in name else name


def _prepare(branches: Branches) -> tuple[dict, int]:
    """Group jagged branches into records (one counter each) and check lengths."""
    if not branches:
        raise InputError("no branches to write")
    columns = {name: _as_column(name, value) for name, value in branches.items()}
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(f"branches have different numbers of entries: {lengths}")
    n = next(iter(lengths.values()))

    groups: dict[str, dict[str, ak.Array]] = {}
    out: dict = {}
    for name, column in columns.items():
        if isinstance(column, np.ndarray):
            out[name] = column
        else:
            groups.setdefault(_collection(name), {})[name] = column
    for collection, members in groups.items():
        counts = {name: ak.to_numpy(ak.num(column, axis=1)) for name, column in members.items()}
        first_name, first = next(iter(counts.items()))
        mismatched = [name for name, c in counts.items() if not np.array_equal(c, first)]
        in_schema = collection in schema.JAGGED_COLLECTIONS
        if mismatched and in_schema:
            entry = int(np.argmax(counts[mismatched[0]] != first))
            raise InputError(
                f"branches {first_name!r} and {mismatched[0]!r} of collection {collection!r} "
                f"have different multiplicities (first at entry {entry})"
            )
        if mismatched or (len(members) == 1 and not in_schema):
            out.update(members)  # one counter per branch
        else:
            prefix = len(collection) + 1
            out[collection] = ak.zip(
                {name[prefix:]: column for name, column in members.items()}, depth_limit=None
            )
    return out, n


def _branch_type(column):
    if isinstance(column, np.ndarray):
        return np.dtype((column.dtype, column.shape[1:])) if column.ndim > 1 else column.dtype
    return column.type.content


class NtupleWriter:
    """Write a schema v1 TTree chunk by chunk::

        with NtupleWriter("out.root") as writer:
            for chunk in chunks:
                writer.extend(chunk)  # dict of branch name -> array

    The first :meth:`extend` fixes the branches and their types; later chunks must
    carry the same branches. Schema branches are cast to their schema dtype;
    extra branches keep theirs.
    """

    def __init__(
        self, path: PathLike, tree: str = schema.TREE_NAME, title: str = schema.TREE_TITLE
    ):
        self.path = Path(path)
        self.tree_name = tree
        self.title = title
        self._file = uproot.recreate(self.path)
        self._tree = None
        self._names: list[str] | None = None
        self.num_entries = 0

    def extend(self, branches: Branches) -> None:
        """Append the entries of ``branches`` (all of equal length) to the tree."""
        if self._file is None:
            raise ValueError(f"{self.path}: writer is closed")
        prepared, n = _prepare(branches)
        if self._tree is None:
            self._tree = self._file.mktree(
                self.tree_name,
                {name: _branch_type(column) for name, column in prepared.items()},
                title=self.title,
                counter_name=schema.counter_name,
            )
            self._names = list(branches)
        elif sorted(branches) != sorted(self._names):
            raise InputError(
                f"{self.path}: chunk branches differ from the first chunk's: "
                f"missing {sorted(set(self._names) - set(branches))}, "
                f"extra {sorted(set(branches) - set(self._names))}"
            )
        if n:
            self._tree.extend(prepared)
            self.num_entries += n

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> NtupleWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_ntuple(path: PathLike, branches: Branches, tree: str = schema.TREE_NAME) -> Path:
    """Write ``branches`` (schema v1 names, plus any extra branches) as one TTree."""
    with NtupleWriter(path, tree=tree) as writer:
        writer.extend(branches)
    return Path(path)


# --------------------------------------------------------------------------- reading


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
            f"{type(exc).__name__}: {exc}"
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
    """Schema branch ``name`` from the file's arrays: merged, scaled, cast, |pid|."""
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
    if spec.dtype == np.bool_:
        return array != 0
    if name == "lep_pid":
        array = abs(array)
    return ak.values_astype(array, spec.dtype)


def _mass_from_energy(energy: ak.Array, pt: ak.Array, eta: ak.Array) -> ak.Array:
    """m = sqrt(E² − (pT cosh η)²), in float64, with rounding-negative m² set to 0."""
    p = ak.values_astype(pt, np.float64) * np.cosh(ak.values_astype(eta, np.float64))
    m2 = ak.values_astype(energy, np.float64) ** 2 - p**2
    return ak.values_astype(np.sqrt(np.maximum(m2, 0.0)), np.float32)


def _first_entry(bad: ak.Array) -> int:
    per_event = bad if bad.ndim == 1 else ak.any(bad, axis=-1)
    return int(np.argmax(ak.to_numpy(per_event)))


def _check_finite(raw: dict, plan: dict, path: Path, offset: int) -> None:
    for name in schema.FLOAT_BRANCHES:
        if name not in raw:
            continue
        values = raw[name]
        flat = ak.to_numpy(ak.flatten(values, axis=None))
        if np.isfinite(flat).all():
            continue
        bad = ~np.isfinite(values)
        kind = "NaN" if np.isnan(flat).any() else "inf"
        raise InputError(
            f"{path}: branch {_label(plan[name])} holds {kind} values "
            f"(first at entry {offset + _first_entry(bad)})"
        )


def _check_structure(raw: dict, plan: dict, path: Path, offset: int) -> None:
    """Branches of one collection agree in multiplicity; truth partons come in sixes."""
    for collection in schema.JAGGED_COLLECTIONS:
        names = [b.name for b in schema.BRANCHES if b.collection == collection and b.name in raw]
        if not names:
            continue
        reference = ak.to_numpy(ak.num(raw[names[0]], axis=1))
        for name in names[1:]:
            counts = ak.to_numpy(ak.num(raw[name], axis=1))
            if not np.array_equal(counts, reference):
                entry = offset + int(np.argmax(counts != reference))
                raise InputError(
                    f"{path}: branches {_label(plan[names[0]])} and {_label(plan[name])} differ in "
                    f"length at entry {entry}"
                )
    for name in _OPTIONAL_GROUPS["truth_parton"]:
        if name not in raw:
            continue
        counts = ak.to_numpy(ak.num(raw[name], axis=1))
        if (counts != schema.N_PARTONS).any():
            entry = offset + int(np.argmax(counts != schema.N_PARTONS))
            raise InputError(
                f"{path}: branch {_label(plan[name])} must hold {schema.N_PARTONS} partons "
                f"per event, entry {entry} has {counts[entry - offset]}"
            )
        raw[name] = ak.to_regular(raw[name], axis=1)


def _lepton_channel(counts: np.ndarray, channel: str | None, where: str, offset: int = 0) -> str:
    """Channel from lepton multiplicities; ChannelError names the first offending entry."""
    if channel is not None:
        if channel not in CHANNELS:
            raise ChannelError(f"unknown channel {channel!r}; choose one of {CHANNELS}")
        expected = N_LEPTONS[channel]
        bad = counts != expected
        if bad.any():
            i = int(np.argmax(bad))
            raise ChannelError(
                f"{where}: entry {offset + i} has {counts[i]} lepton(s), but the {channel} "
                f"channel needs exactly {expected}"
            )
        return channel
    by_count = {n_lep: name for name, n_lep in N_LEPTONS.items()}
    first = int(counts[0])
    if first not in by_count:
        raise ChannelError(
            f"{where}: entry {offset} has {first} lepton(s); semileptonic events need 1, "
            "dilepton events 2"
        )
    bad = counts != first
    if bad.any():
        i = int(np.argmax(bad))
        raise ChannelError(
            f"{where}: mixed lepton multiplicities: entry {offset} has {first} lepton(s), "
            f"entry {offset + i} has {counts[i]}; select one channel first"
        )
    return by_count[first]


def _check_charges(charge: ak.Array, channel: str, where: str, offset: int = 0) -> None:
    """Leptons carry charge ±1, and a dilepton event one ℓ⁺ and one ℓ⁻ (ν ↔ W⁺ pairing)."""
    bad = ak.to_numpy(ak.any(abs(charge) != 1, axis=1))
    what = "a lepton charge other than ±1"
    if channel == "dilepton" and not bad.any():
        bad = ak.to_numpy(ak.sum(charge, axis=1) != 0)
        what = "two leptons of the same charge (dilepton events need ℓ⁺ℓ⁻)"
    if bad.any():
        raise InputError(f"{where}: entry {offset + int(np.argmax(bad))} has {what}")


def _check_jets(counts: np.ndarray, where: str, offset: int = 0) -> None:
    """Every tt̄ event has at least one jet; an empty jet set would leave the flows'
    attention over nothing (NaN) and the b-jet methods without candidates."""
    if len(counts) and (counts == 0).any():
        raise InputError(
            f"{where}: entry {offset + int(np.argmax(counts == 0))} has no jets; tt̄ events "
            "need jets (apply the channel's selection: ≥ 4 jets semileptonic, ≥ 2 dilepton)"
        )


def _momentum4d(fields: dict) -> ak.Array:
    return ak.zip(fields, with_name="Momentum4D")


def _build_events(raw: dict) -> ak.Array:
    """Zip schema-named columns into event records with vector behaviour."""
    jets = {f: raw[f"jet_{f}"] for f in ("pt", "eta", "phi", "mass", "btag")}
    jets["match"] = raw.get(
        "jet_match", ak.values_astype(ak.zeros_like(raw["jet_pt"]) - 1, np.int8)
    )
    leptons = {f: raw[f"lep_{f}"] for f in ("pt", "eta", "phi", "mass", "charge", "pid")}
    n = len(raw["met"])
    record = {
        "jets": _momentum4d(jets),
        "leptons": _momentum4d(leptons),
        "met": ak.zip({"pt": raw["met"], "phi": raw["met_phi"]}, with_name="Momentum2D"),
        "weight": raw.get("weight", ak.Array(np.ones(n, dtype=np.float32))),
    }
    truth = {}
    if "truth_nu_pt" in raw:
        nu = {f: raw[f"truth_nu_{f}"] for f in ("pt", "eta", "phi")}
        truth["neutrinos"] = _momentum4d(
            {**nu, "mass": ak.zeros_like(nu["pt"]), "pid": raw["truth_nu_pid"]}
        )
    if "truth_parton_pt" in raw:
        truth["partons"] = _momentum4d(
            {f: raw[f"truth_parton_{f}"] for f in ("pt", "eta", "phi", "mass", "pid")}
        )
    for name in ("top", "antitop"):
        if f"truth_{name}_pt" in raw:
            truth[name] = _momentum4d(
                {f: raw[f"truth_{name}_{f}"] for f in ("pt", "eta", "phi", "mass")}
            )
    if truth:
        record["truth"] = ak.zip(truth, depth_limit=1)
    return ak.zip(record, depth_limit=1)


def _events_from_arrays(
    arrays: dict, plan: dict, mapping, path, offset, channel
) -> tuple[ak.Array, str]:
    raw = {name: _column(name, plan, arrays, mapping, path, offset) for name in plan}
    _check_structure(raw, plan, path, offset)
    for name in plan:
        if mapping.reads_energy(name):
            collection = schema.BY_NAME[name].collection
            raw[name] = _mass_from_energy(
                raw[name], raw[f"{collection}_pt"], raw[f"{collection}_eta"]
            )
    for collection in mapping.merged_collections:
        order = ak.argsort(raw[f"{collection}_pt"], axis=1, ascending=False, stable=True)
        for name in plan:
            if schema.BY_NAME[name].collection == collection:
                raw[name] = raw[name][order]
    _check_finite(raw, plan, path, offset)
    channel = _lepton_channel(
        ak.to_numpy(ak.num(raw["lep_pt"], axis=1)), channel, str(path), offset
    )
    _check_charges(raw["lep_charge"], channel, str(path), offset)
    _check_jets(ak.to_numpy(ak.num(raw["jet_pt"], axis=1)), str(path), offset)
    if "truth_nu_pt" in raw:
        counts = ak.to_numpy(ak.num(raw["truth_nu_pt"], axis=1))
        bad = counts != N_NEUTRINOS[channel]
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"{path}: entry {offset + i} has {counts[i]} truth neutrino(s), but {channel} "
                f"events have {N_NEUTRINOS[channel]}"
            )
    return _build_events(raw), channel


def _chunks(
    paths,
    mapping,
    channel: str | None,
    entry_stop: int | None,
    step_size: int | str | None,
) -> Iterator[ak.Array]:
    """Validated event chunks over files; ``step_size=None`` reads each file at once."""
    mapping = as_mapping(mapping)
    if entry_stop is not None and entry_stop < 1:
        raise InputError(f"entry_stop / max_events must be at least 1, got {entry_stop}")
    remaining = entry_stop
    truth_fields = None
    for path in expand_paths(paths):
        if remaining is not None and remaining <= 0:
            return
        with _wrap_read_errors(path), uproot.open(path) as file:
            tree = _get_tree(file, path, mapping)
            plan = _plan(tree, path, mapping)
            foreign = sorted({n for source in plan.values() for n in _names(source)})
            stop = None if remaining is None else min(remaining, tree.num_entries)
            if step_size is None:
                pieces = [(tree.arrays(foreign, entry_stop=stop, how=dict), 0)]
            else:
                pieces = (
                    (arrays, report.tree_entry_start)
                    for arrays, report in tree.iterate(
                        foreign, step_size=step_size, entry_stop=stop, how=dict, report=True
                    )
                )
            for arrays, offset in pieces:
                events, channel = _events_from_arrays(arrays, plan, mapping, path, offset, channel)
                fields = sorted(events.truth.fields) if "truth" in events.fields else []
                if truth_fields is None:
                    truth_fields = fields
                elif fields != truth_fields:
                    raise InputError(
                        f"{path}: truth content {fields} differs from the earlier files' "
                        f"{truth_fields}; read files with the same branches together"
                    )
                if remaining is not None:
                    remaining -= len(events)
                yield events


def read_events(
    paths: PathLike | Sequence[PathLike],
    mapping: BranchMapping | dict | PathLike | None = None,
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
    parts = list(_chunks(paths, mapping, channel, entry_stop, step_size=None))
    return parts[0] if len(parts) == 1 else ak.concatenate(parts)


def iterate_events(
    paths: PathLike | Sequence[PathLike],
    step_size: int | str = "100 MB",
    mapping: BranchMapping | dict | PathLike | None = None,
    channel: str | None = None,
    entry_stop: int | None = None,
) -> Iterator[ak.Array]:
    """Like :func:`read_events`, in chunks of ``step_size`` entries (int) or bytes ("100 MB")."""
    yield from _chunks(paths, mapping, channel, entry_stop, step_size=step_size)


def detect_channel(events: ak.Array) -> str:
    """``semileptonic`` (one lepton per event) or ``dilepton`` (two); else ChannelError."""
    if len(events) == 0:
        raise InputError("no events: cannot detect the channel")
    return _lepton_channel(ak.to_numpy(ak.num(events.leptons, axis=1)), None, "events")


# --------------------------------------------------------------------------- padding


def _padded(array: ak.Array, size: int, fill) -> np.ndarray:
    return ak.to_numpy(ak.fill_none(ak.pad_none(array, size, axis=1, clip=True), fill))


def _cartesian(objects: ak.Array, size: int | None = None) -> np.ndarray:
    """(n, [size,] 4) px, py, pz, E in float64 from pt/eta/phi/mass fields; padding is zero."""
    columns = [objects[f] for f in ("pt", "eta", "phi", "mass")]
    if size is not None:
        columns = [_padded(c, size, 0.0) for c in columns]
    else:
        columns = [ak.to_numpy(c) for c in columns]
    return from_pt_eta_phi_m(*columns)


def to_padded(events: ak.Array, channel: str | None = None) -> PaddedEvents:
    """The one awkward → numpy conversion: fixed-shape Cartesian arrays with masks.

    Jets are the leading :data:`~nuanalysis.padded.MAX_JETS` (``n_jets`` counts
    all); leptons keep their pT order; truth neutrinos are ordered ν (pid > 0)
    then ν̄, as in the schema.
    """
    channel = (
        _lepton_channel(ak.to_numpy(ak.num(events.leptons, axis=1)), channel, "events")
        if len(events)
        else channel
    )
    if channel not in CHANNELS:
        raise ChannelError(f"unknown channel {channel!r}; choose one of {CHANNELS}")
    _check_charges(events.leptons.charge, channel, "events")
    n_lep = N_LEPTONS[channel]
    jets = events.jets
    n_jets = ak.to_numpy(ak.num(jets, axis=1)).astype(np.int64)
    _check_jets(n_jets, "events")
    jet_mask = np.arange(MAX_JETS) < np.minimum(n_jets, MAX_JETS)[:, None]
    met = ak.to_numpy(events.met.pt).astype(np.float64)
    met_phi = ak.to_numpy(events.met.phi).astype(np.float64)
    leptons = events.leptons
    values = {
        "channel": channel,
        "jets": _cartesian(jets, MAX_JETS),
        "jet_btag": _padded(jets.btag, MAX_JETS, False).astype(bool),
        "jet_mask": jet_mask,
        "jet_match": _padded(jets.match, MAX_JETS, -1).astype(np.int8),
        "leptons": _cartesian(leptons, n_lep),
        "lep_charge": _padded(leptons.charge, n_lep, 0).astype(np.int8),
        "lep_pid": _padded(leptons.pid, n_lep, 0).astype(np.int8),
        "met": np.stack([met * np.cos(met_phi), met * np.sin(met_phi)], axis=-1),
        "weight": ak.to_numpy(events.weight).astype(np.float64),
        "n_jets": n_jets,
    }
    truth = events.truth if "truth" in events.fields else None
    if truth is not None and "neutrinos" in truth.fields:
        values["truth_nu"] = _truth_neutrinos(truth.neutrinos, N_NEUTRINOS[channel])
    if truth is not None and "partons" in truth.fields:
        values["truth_partons"] = _cartesian(truth.partons)
        values["truth_parton_pid"] = ak.to_numpy(truth.partons.pid).astype(np.int8)
    for name in ("top", "antitop"):
        if truth is not None and name in truth.fields:
            values[f"truth_{name}"] = _cartesian(truth[name])
    for name, value in values.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and len(value):
            finite = np.isfinite(value.reshape(len(value), -1)).all(axis=1)
            if not finite.all():
                raise InputError(f"events: {name} is not finite in event {np.argmin(finite)}")
    return PaddedEvents(**values)


def _truth_neutrinos(neutrinos: ak.Array, n_nu: int) -> np.ndarray:
    """(n, n_nu, 3) px, py, pz, ordered ν (pid > 0) before ν̄."""
    counts = ak.to_numpy(ak.num(neutrinos, axis=1))
    if len(counts) and (counts != n_nu).any():
        i = int(np.argmax(counts != n_nu))
        raise InputError(f"event {i} has {counts[i]} truth neutrinos, expected {n_nu}")
    p4 = _cartesian(neutrinos, n_nu)[..., :3]
    pid = _padded(neutrinos.pid, n_nu, 0)
    order = np.argsort(pid < 0, axis=1, kind="stable")
    return np.take_along_axis(p4, order[:, :, None], axis=1)


def load_padded(
    path: PathLike | Sequence[PathLike],
    channel: str | None = None,
    max_events: int | None = None,
    mapping: BranchMapping | dict | PathLike | None = None,
    step_size: int | str = "100 MB",
) -> PaddedEvents:
    """Read files chunk by chunk straight into one :class:`PaddedEvents`."""
    parts = [
        to_padded(chunk, channel=channel)
        for chunk in iterate_events(path, step_size, mapping, channel, entry_stop=max_events)
    ]
    return PaddedEvents.concatenate(parts)


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
