"""Reading foreign ntuples: a small TOML/YAML file maps schema v1 names onto a file's own.

A mapping says which tree to read, the unit scale of energies and momenta
(``0.001`` for MeV → GeV) and, for each schema branch whose name differs, the
foreign branch name. Unlisted branches are looked up under their schema name::

    tree = "nominal"
    scale = 0.001          # MeV -> GeV; applied to pT, mass and MET only

    [branches]
    jet_pt = "jet_pt_MeV"
    lep_pid = "lep_type"

The scale multiplies the branches marked ``scaled`` in :mod:`nuanalysis.schema`
(pT, masses, MET), never η, φ, charge, pid or b-tag. Example:
``nuanalysis/data/mappings/atlas_mev.toml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from nuanalysis import schema
from nuanalysis.errors import InputError

_KEYS = {"tree", "scale", "branches", "description"}


@dataclass(frozen=True)
class BranchMapping:
    """Where the schema branches live in a foreign file, and in which units."""

    tree: str = schema.TREE_NAME
    scale: float = 1.0
    branches: dict[str, str] = field(default_factory=dict)
    source: str = "<default>"

    def foreign(self, name: str) -> str:
        """The file's branch name for schema branch ``name``."""
        return self.branches.get(name, name)

    def factor(self, name: str) -> float:
        """Unit factor applied to schema branch ``name`` after reading."""
        return self.scale if schema.BY_NAME[name].scaled else 1.0

    @property
    def is_identity(self) -> bool:
        return self.tree == schema.TREE_NAME and self.scale == 1.0 and not self.branches


IDENTITY = BranchMapping()


def mapping_from_dict(data: MappingABC, source: str = "<dict>") -> BranchMapping:
    """Validate a parsed mapping (from TOML, YAML or Python) and build a :class:`BranchMapping`."""
    if not isinstance(data, MappingABC):
        raise InputError(f"mapping {source}: expected a table of keys, got {type(data).__name__}")
    unknown = set(data) - _KEYS
    if unknown:
        raise InputError(
            f"mapping {source}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}"
        )
    tree = data.get("tree", schema.TREE_NAME)
    if not isinstance(tree, str) or not tree:
        raise InputError(f"mapping {source}: 'tree' must be a non-empty string, got {tree!r}")
    scale = data.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise InputError(f"mapping {source}: 'scale' must be a number, got {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise InputError(
            f"mapping {source}: 'scale' must be finite and positive (0.001 for MeV), got {scale!r}"
        )
    branches = data.get("branches", {})
    if not isinstance(branches, MappingABC):
        raise InputError(f"mapping {source}: [branches] must be a table of schema = foreign names")
    for name, foreign in branches.items():
        if name not in schema.BY_NAME:
            raise InputError(
                f"mapping {source}: {name!r} is not a schema v{schema.SCHEMA_VERSION} branch; "
                f"schema branches:\n{schema.describe()}"
            )
        if not isinstance(foreign, str) or not foreign:
            raise InputError(
                f"mapping {source}: branch {name!r} must map to a branch name, got {foreign!r}"
            )
    return BranchMapping(tree=tree, scale=float(scale), branches=dict(branches), source=source)


def load_mapping(path: str | Path) -> BranchMapping:
    """Read and validate a mapping file (``.toml``, or ``.yaml``/``.yml``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mapping file not found: {path}")
    text = path.read_text(encoding="utf-8")
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
    """Accept a :class:`BranchMapping`, a dict, a file path or ``None`` (schema names, GeV)."""
    if mapping is None:
        return IDENTITY
    if isinstance(mapping, BranchMapping):
        return mapping
    if isinstance(mapping, MappingABC):
        return mapping_from_dict(mapping)
    return load_mapping(mapping)
