"""Reading foreign ntuples: a small TOML/YAML file maps schema v1 names onto a file's own.

A mapping says which tree to read, the unit scale of energies and momenta
(``0.001`` for MeV → GeV) and, for each schema branch whose name differs, the
foreign branch name. Unlisted branches are looked up under their schema name::

    tree = "nominal"
    scale = 0.001                      # MeV -> GeV: pT, masses, energies, MET only
    btag_working_point = 2.195         # jet_btag holds scores: tagged if score >= 2.195

    [branches]
    jet_pt = "jet_pt"
    jet_e = "jet_e"                    # energy instead of jet_mass; mass = sqrt(E² - p²)
    jet_btag = "jet_DL1r"              # scores, cut at the working point above
    lep_pt = ["el_pt", "mu_pt"]        # merge collections, then pT-order them
    lep_pid = [11, 13]                 # a constant per merged collection
    met = "met_met"

Rules:

- the scale multiplies the branches marked ``scaled`` in :mod:`nuanalysis.schema`
  (pT, masses, energies, MET), never η, φ, charge, pid or b-tag;
- ``jet_e``/``lep_e`` give the energy in place of ``jet_mass``/``lep_mass``;
- a list merges several per-object collections (electrons and muons) into one;
  then every read branch of that collection is a list of the same length, and
  integer/boolean branches and masses may give a constant per part instead of a
  name (``lep_mass = [0.000511, 0.10566]``, in the file's units). Optional
  branches of a merged collection that are not listed are absent;
- a per-event branch may come from a collection holding exactly one object per
  event (Delphes ``MissingET.MET``, ``Event.Weight``);
- ``lep_pid`` is read as its absolute value (PDG flavour 11 or 13);
- integer and boolean branches must hold exactly what the schema's type
  allows (no float charge 1.7 read as 1, no pid 269 wrapped to 13): a b-tag
  branch holds decisions (0 or 1) unless ``btag_working_point`` is given, then
  it holds scores and a jet is tagged when its score is at least that value;
- jets and leptons must be pT-ordered (leading first), as the schema says;
  ``sort_by_pt = true`` has the reader sort them instead (merged collections
  are always sorted);
- a mapped energy must be at least the momentum (E ≥ pT cosh η, as a mass
  branch must be non-negative): it is never folded into a mass silently.

Mappings shipped with the package are used by name: ``--mapping atlas_mev`` on
the command line, ``mapping="atlas_mev"`` in Python (:func:`shipped_mappings`).
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from pathlib import Path

import tomllib

from nuanalysis import schema
from nuanalysis.errors import InputError

_KEYS = {"tree", "scale", "branches", "description", "btag_working_point", "sort_by_pt"}
_SUFFIXES = (".toml", ".yaml", ".yml")

ENERGY_FOR_MASS = {"jet_mass": "jet_e", "lep_mass": "lep_e"}
"""Mapping keys that give an energy to be read in place of a schema mass branch."""

Source = str | tuple[str | int | float, ...]
"""A schema branch's origin: a branch name, or parts (names or constants) to merge."""


@dataclass(frozen=True)
class BranchMapping:
    """Where the schema branches live in a foreign file, and in which units."""

    tree: str = schema.TREE_NAME
    scale: float = 1.0
    branches: dict[str, Source] = field(default_factory=dict)
    source: str = "<default>"
    btag_working_point: float | None = None
    """None: ``jet_btag`` holds decisions (0 or 1); else scores, tagged when ≥ this value."""
    sort_by_pt: bool = False
    """True: jets and leptons are sorted by pT as read (else their order is checked)."""

    def foreign(self, name: str) -> Source | None:
        """The file's branch(es) for schema branch ``name``; None if a merged collection lacks it.

        For a mass branch mapped through its energy (``jet_e``), the energy's source.
        """
        energy_key = ENERGY_FOR_MASS.get(name)
        if energy_key in self.branches:
            return self.branches[energy_key]
        if name in self.branches:
            return self.branches[name]
        if schema.BY_NAME[name].collection in self.merged_collections:
            return None
        return name

    def reads_energy(self, name: str) -> bool:
        """True if schema mass branch ``name`` is computed from a mapped energy."""
        return ENERGY_FOR_MASS.get(name) in self.branches

    @property
    def merged_collections(self) -> dict[str, int]:
        """Collections built from several foreign collections, with the number of parts."""
        return {
            _collection_of(key): len(value)
            for key, value in self.branches.items()
            if isinstance(value, tuple)
        }

    @property
    def is_identity(self) -> bool:
        return self == replace(IDENTITY, source=self.source)


IDENTITY = BranchMapping()


def _collection_of(key: str) -> str:
    name = next((m for m, e in ENERGY_FOR_MASS.items() if e == key), key)
    return schema.BY_NAME[name].collection


def _source(key: str, value, where: str) -> Source:
    """Validate one ``[branches]`` value: a name, or a list of names/constants to merge."""
    name = next((m for m, e in ENERGY_FOR_MASS.items() if e == key), key)
    spec = schema.BY_NAME[name]
    is_mass = key == name and name.endswith("_mass")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list | tuple) and len(value) >= 2:
        if spec.shape != "jagged":
            raise InputError(
                f"{where}: {key!r} is not a per-object branch; it cannot merge {value}"
            )
        constants = (int, bool) if spec.dtype.kind in "biu" else (int, float) if is_mass else ()
        for item in value:
            if not (isinstance(item, str) and item) and not isinstance(item, constants):
                allowed = "branch names" + (" or numbers" if constants else "")
                raise InputError(f"{where}: {key!r} lists {item!r}; expected {allowed}")
        return tuple(value)
    raise InputError(
        f"{where}: {key!r} must map to a branch name (or a list of at least two to merge), "
        f"got {value!r}"
    )


def mapping_from_dict(data: MappingABC, source: str = "<dict>") -> BranchMapping:
    """Validate a parsed mapping (from TOML, YAML or Python) and build a :class:`BranchMapping`."""
    where = f"mapping {source}"
    if not isinstance(data, MappingABC):
        raise InputError(f"{where}: expected a table of keys, got {type(data).__name__}")
    unknown = set(data) - _KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    tree = data.get("tree", schema.TREE_NAME)
    if not isinstance(tree, str) or not tree:
        raise InputError(f"{where}: 'tree' must be a non-empty string, got {tree!r}")
    scale = data.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise InputError(f"{where}: 'scale' must be a number, got {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise InputError(
            f"{where}: 'scale' must be finite and positive (0.001 for MeV), got {scale!r}"
        )
    raw = data.get("branches", {})
    if not isinstance(raw, MappingABC):
        raise InputError(f"{where}: [branches] must be a table of schema = foreign names")
    branches = {}
    for key, value in raw.items():
        if key not in schema.BY_NAME and key not in ENERGY_FOR_MASS.values():
            raise InputError(
                f"{where}: {key!r} is not a schema v{schema.SCHEMA_VERSION} branch "
                f"(nor {sorted(ENERGY_FOR_MASS.values())}); schema branches:\n{schema.describe()}"
            )
        branches[key] = _source(key, value, where)
    for mass, energy in ENERGY_FOR_MASS.items():
        if mass in branches and energy in branches:
            raise InputError(f"{where}: give either {mass!r} or {energy!r}, not both")
    working_point = data.get("btag_working_point")
    if working_point is not None and (
        isinstance(working_point, bool)
        or not isinstance(working_point, int | float)
        or not math.isfinite(working_point)
    ):
        raise InputError(
            f"{where}: 'btag_working_point' must be a finite number (the score cut), "
            f"got {working_point!r}"
        )
    sort_by_pt = data.get("sort_by_pt", False)
    if not isinstance(sort_by_pt, bool):
        raise InputError(f"{where}: 'sort_by_pt' must be true or false, got {sort_by_pt!r}")
    mapping = BranchMapping(
        tree=tree,
        scale=float(scale),
        branches=branches,
        source=source,
        btag_working_point=None if working_point is None else float(working_point),
        sort_by_pt=sort_by_pt,
    )
    _check_merges(mapping, where)
    return mapping


def _check_merges(mapping: BranchMapping, where: str) -> None:
    """Every required branch of a merged collection lists the same number of parts."""
    for collection, parts in mapping.merged_collections.items():
        for spec in schema.BRANCHES:
            if spec.collection != collection:
                continue
            value = mapping.foreign(spec.name)
            if value is None and not spec.required:
                continue
            if not isinstance(value, tuple) or len(value) != parts:
                raise InputError(
                    f"{where}: {collection!r} merges {parts} collections, so "
                    f"{spec.name!r} must list {parts} branches too (got {value!r})"
                )


def shipped_mappings() -> dict[str, Path]:
    """The mappings shipped in ``nuanalysis/data/mappings``, by name (file name without suffix)."""
    folder = importlib.resources.files("nuanalysis") / "data" / "mappings"
    return {
        Path(item.name).stem: Path(str(item))
        for item in folder.iterdir()
        if item.name.endswith(_SUFFIXES)
    }


def mapping_path(name: str | Path) -> Path:
    """The mapping file ``name`` names: a file path, or a shipped mapping's name.

    A file that exists wins; otherwise ``atlas_mev`` (or ``atlas_mev.toml``) is
    the shipped mapping of that name.
    """
    path = Path(name)
    if path.is_file():
        return path
    shipped = shipped_mappings()
    stem = path.name[: -len(path.suffix)] if path.suffix in _SUFFIXES else path.name
    if path.parent == Path(".") and stem in shipped:
        return shipped[stem]
    raise InputError(
        f"mapping file not found: {name} (shipped mappings, usable by name: "
        f"{', '.join(sorted(shipped))})"
    )


def spelled(command_line: str, python: str) -> str:
    """``command_line`` inside a ``nuanalysis`` command, else ``python``: how a fix is written.

    Messages that suggest an option (``--mapping atlas_mev`` or ``mapping="atlas_mev"``)
    use the spelling of the interface the user is typing into.
    """
    import click

    context = click.get_current_context(silent=True)
    return command_line if context and context.find_root().info_name == "nuanalysis" else python


def mapping_suggestion() -> str:
    """How to read a file through a mapping, in the spelling of the caller's interface."""
    names = sorted(shipped_mappings())
    return spelled(
        f"--mapping FILE, or a shipped one by name: {', '.join(f'--mapping {n}' for n in names)}",
        f"mapping=FILE, or a shipped one by name: {', '.join(f'mapping={n!r}' for n in names)}",
    )


def load_mapping(path: str | Path) -> BranchMapping:
    """Read and validate a mapping file (``.toml``, or ``.yaml``/``.yml``), or a shipped one
    by name (:func:`mapping_path`)."""
    path = mapping_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"mapping file {path} is not UTF-8 text (a binary file?): {exc.reason} at byte "
            f"{exc.start}; a mapping is a .toml or .yaml text file, or the name of a shipped "
            f"one ({', '.join(sorted(shipped_mappings()))})"
        ) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise InputError(f"mapping file {path} cannot be parsed: {exc}") from exc
    return mapping_from_dict(data if data is not None else {}, source=str(path))


def as_mapping(mapping: BranchMapping | MappingABC | str | Path | None) -> BranchMapping:
    """Accept a :class:`BranchMapping`, a dict, a file path, a shipped mapping's name
    (``"atlas_mev"``) or ``None`` (schema names, GeV)."""
    if mapping is None:
        return IDENTITY
    if isinstance(mapping, BranchMapping):
        return mapping
    if isinstance(mapping, MappingABC):
        return mapping_from_dict(mapping)
    return load_mapping(mapping)
