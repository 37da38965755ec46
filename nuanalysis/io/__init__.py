"""Ntuple I/O: schema v1 TTrees in, awkward events with vector behaviour out, padded numpy once.

Like uproot's source / reading / interpretation, one job per module:

- :mod:`~nuanalysis.io.reading`: files opened once, entry ranges read and
  interpreted as schema-named columns (mapping applied), awkward events;
- :mod:`~nuanalysis.io.checks`: the checks every read entry passes once —
  existence, tree, branches, finite and physical values (:mod:`nuanalysis.validation`),
  integer and b-tag values exactly as the schema types hold them, mapped energies
  (E ≥ |p|), unit scale (MeV and a thousandth of GeV), lepton multiplicity,
  charges and flavours, at least one jet, jets and leptons in pT order —
  raising :class:`~nuanalysis.errors.InputError` or
  :class:`~nuanalysis.errors.ChannelError` naming the file, branch and entry, so
  bad input never reaches numba or torch;
- :mod:`~nuanalysis.io.padding`: the one awkward → numpy conversion
  (:class:`~nuanalysis.padded.PaddedEvents`);
- :mod:`~nuanalysis.io.writing`: :class:`NtupleWriter`, :func:`write_ntuple`.
"""

from nuanalysis.io.padding import to_padded
from nuanalysis.io.reading import (
    NtupleFile,
    demo_sample_path,
    detect_channel,
    expand_paths,
    iterate_events,
    iterate_padded,
    load_padded,
    read_events,
)
from nuanalysis.io.writing import Branches, NtupleWriter, PathLike, write_ntuple

__all__ = [
    "Branches",
    "NtupleFile",
    "NtupleWriter",
    "PathLike",
    "demo_sample_path",
    "detect_channel",
    "expand_paths",
    "iterate_events",
    "iterate_padded",
    "load_padded",
    "read_events",
    "to_padded",
    "write_ntuple",
]
