"""Writing schema v1 TTrees chunk by chunk (:class:`NtupleWriter`, :func:`write_ntuple`).

uproot's ``mktree``/``extend`` make classic TTrees that ROOT reads directly.
Branches of one jagged collection (``jet_*``, ``lep_*``, ``truth_nu_*``, or any
extra ``<prefix>_<field>`` group of equal multiplicity such as ``nw_nu_px``,
``nw_nu_py``) share one counter branch ``n<prefix>`` (``njet``, ``nlep``,
``ntruth_nu``, ``nnw_nu``; characters other than letters, digits and ``_``
become ``_`` in the counter name).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from nuanalysis import schema
from nuanalysis.errors import InputError

PathLike = str | Path
Branches = dict[str, "ak.Array | np.ndarray"]


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
