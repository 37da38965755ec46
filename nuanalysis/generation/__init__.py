"""Sample generation: Pythia 8 tt̄ events ▸ FastJet jets ▸ parametric ATLAS-like detector.

``nuanalysis generate`` calls :func:`generate` and writes ntuple schema v1
(docs/schema.md). Modules: :mod:`.pythia` (generator set-up), :mod:`.truth` (truth
record, jet–parton matching), :mod:`.jets` (clustering, flavour labels),
:mod:`.detector` (every detector parameter), :mod:`.reconstruction`
(leptons, jets, b-tags, MET), :mod:`.selection`, :mod:`.runner` (jobs).
"""

from nuanalysis.generation.runner import GenerationResult, generate

__all__ = ["GenerationResult", "generate"]
