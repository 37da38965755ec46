"""Every neutrino method on awkward and dask-awkward event records, where analyses already are.

:func:`reconstruct` takes event records with the fields an analysis has —
``jets`` (with a ``btag`` decision), ``leptons`` (``charge``, ``pid`` or
``pdgId``), ``met``, as ``vector``-behaved records in GeV — and returns records
aligned with them: ``nu`` (and ``nubar`` for dilepton events) as ``vector``
Momentum4D, ``valid``, the method's ``weight`` where it has one and, for
posterior methods, ``draws`` on an extra axis with their ``log_prob``. Given a
dask-awkward array it builds a lazy graph (:mod:`nuanalysis.columnar.lazy`).
:mod:`nuanalysis.formats` builds such records from CMS NanoAOD and ATLAS PHYSLITE;
:class:`~nuanalysis.columnar.ml_tools.NeutrinoFlowWrapper` is the coffea
``ml_tools``-style wrapper of the flows (torch or onnxruntime).
"""

from nuanalysis.columnar.api import reconstruct
from nuanalysis.columnar.ml_tools import NeutrinoFlowWrapper
from nuanalysis.columnar.records import output_layout, to_records

__all__ = ["NeutrinoFlowWrapper", "output_layout", "reconstruct", "to_records"]
