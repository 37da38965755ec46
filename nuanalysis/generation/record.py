"""How a generated file was made, stored inside it: command, seed, re-smearing, counts.

``nuanalysis generate`` writes a JSON string (a ROOT ``TObjString``) named
:data:`RECORD_KEY` next to the ``events`` tree, so a file tells its own
provenance: ``nuanalysis train`` copies it into the model's training history,
and a user reads it with ``uproot.open(path)["nuanalysis_generation"]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import uproot

RECORD_KEY = "nuanalysis_generation"


def write_generation_record(path: str | Path, record: dict) -> None:
    """Add ``record`` (JSON-serialisable) to the ROOT file at ``path``."""
    with uproot.update(path) as file:
        file[RECORD_KEY] = json.dumps(record, sort_keys=True)


def read_generation_record(path: str | Path) -> dict | None:
    """The generation record of ``path``, or None for a file not made by ``generate``."""
    with uproot.open(path) as file:
        if RECORD_KEY not in file.keys(cycle=False):
            return None
        try:
            return json.loads(str(file[RECORD_KEY]))
        except (ValueError, TypeError):
            return None


def source_groups(paths: list[str | Path], n_events: int) -> np.ndarray | None:
    """One label per entry of the joined ``paths``: its Pythia event (``source_event``,
    unique across files), so that re-smeared copies can be kept together; None when a
    file lacks the branch or the files hold another number of entries than ``n_events``
    (their first ``n_events`` entries are labelled when they hold more)."""
    labels = []
    for index, path in enumerate(paths):
        with uproot.open(path) as file:
            tree = file["events"]
            if "source_event" not in tree.keys():
                return None
            source = tree["source_event"].array(library="np").astype(np.int64)
        labels.append(source + (index << 40))
    joined = np.concatenate(labels)
    return joined[:n_events] if len(joined) >= n_events else None
