"""A model's training history: every ``nuanalysis train`` call that shaped its weights.

The model file's ``metadata["history"]`` is a list with one record per call,
oldest first. ``train --init MODEL`` copies MODEL's history and appends its own
record, so a model continued on fresh, independently seeded samples carries its
whole lineage: for each call the command, the input files with the record
each generated file holds (its ``generate`` command, seed and re-smearing,
:mod:`nuanalysis.generation.record`), the number of events, the frame and
augmentation, the seed, and every epoch's training and hold-out loss.

Files written before the history existed kept one call's ``command``,
``inputs`` … at the top of the metadata and its epochs under ``history``;
:func:`model_history` reads them as a one-record history.
"""

from __future__ import annotations

from pathlib import Path

from nuanalysis.generation.record import read_generation_record

RECORD_KEYS = ("command", "inputs", "epochs")
"""Keys every history record has."""


def sample_records(paths: list[str | Path]) -> list[dict]:
    """Each input file's absolute path and the generation record it holds (None if foreign)."""
    return [
        {"path": str(Path(p).resolve()), "generation": read_generation_record(p)} for p in paths
    ]


def model_history(metadata: dict) -> list[dict]:
    """The history records of a model file's ``metadata`` (older files: one record)."""
    history = metadata.get("history", [])
    if all(isinstance(entry, dict) and "command" in entry for entry in history):
        return [dict(entry) for entry in history]
    if "command" not in metadata:
        return []
    legacy = {
        key: metadata[key]
        for key in ("command", "preset", "n_events", "seed", "started", "training")
        if key in metadata
    }
    legacy["inputs"] = [{"path": p, "generation": None} for p in metadata.get("inputs", [])]
    legacy["epochs"] = list(history)
    legacy["frame"] = "lab"
    return [legacy]


def extend_history(previous: dict | None, record: dict) -> list[dict]:
    """``previous`` model metadata's history (none for a fresh model) with ``record`` appended."""
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise ValueError(f"a history record needs {', '.join(missing)}")
    return [*model_history(previous or {}), record]
