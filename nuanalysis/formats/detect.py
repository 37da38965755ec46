"""Which format a ROOT file is: our ntuple, CMS NanoAOD or ATLAS PHYSLITE.

Told apart by their trees and marker branches: the ntuple's ``events`` tree
(:data:`nuanalysis.schema.TREE_NAME`), NanoAOD's ``Events`` with ``nJet``,
PHYSLITE's ``CollectionTree`` with ``AnalysisJetsAuxDyn.pt``. A file that is
none of them is refused with the trees it has.
"""

from __future__ import annotations

from pathlib import Path

import uproot

from nuanalysis import schema
from nuanalysis.errors import InputError, first_line
from nuanalysis.mapping import mapping_suggestion

FORMATS = ("ntuple", "nanoaod", "physlite")
_MARKERS = {
    "nanoaod": ("Events", "nJet"),
    "physlite": ("CollectionTree", "AnalysisJetsAuxDyn.pt"),
}


def detect_format(path: str | Path) -> str:
    """``"ntuple"``, ``"nanoaod"`` or ``"physlite"``; an :class:`InputError` otherwise."""
    try:
        file = uproot.open(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot be opened as a ROOT file ({first_line(error)})") from None
    with file:
        trees = {key.split(";")[0]: key for key in file.keys(recursive=False)}
        if schema.TREE_NAME in trees:
            return "ntuple"
        for name, (tree, marker) in _MARKERS.items():
            if tree in trees and marker in file[tree].keys():
                return name
        found = ", ".join(f"{k} ({file[v].classname})" for k, v in trees.items()) or "nothing"
    raise InputError(
        f"{path}: no tree '{schema.TREE_NAME}' of a nuanalysis ntuple, nor CMS NanoAOD "
        f"(tree 'Events' with nJet) nor ATLAS PHYSLITE (tree 'CollectionTree' with "
        f"AnalysisJetsAuxDyn.pt); found {found}; if this ntuple uses other tree or branch "
        f"names or units, read it through a mapping ({mapping_suggestion()})"
    )
