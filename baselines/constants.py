"""Physics constants shared by the whole toolkit (GeV).

The one place masses and widths are written down; :mod:`nuanalysis` and
:mod:`unfolding` import them from here so that the numba kernels, the
generator and the reports never disagree.

Sources: PDG 2024 (particle masses); the ν-Flows paper (eq. 3 uses
m_W = 80.38 GeV); the ATLAS dilepton Neutrino Weighting configurations quoted
in docs/methods.md (m_t = 172.5, m_W = 80.4, m_b = 4.5 GeV).
"""

W_MASS = 80.38
"""W boson mass used by the m_W quadratic constraint (ν-Flows paper, eq. 3)."""

W_WIDTH = 2.085
"""W boson total width (PDG)."""

TOP_MASS = 172.5
"""Default top-quark mass: generator default and the mass assumption of NW and the ellipse."""

TOP_WIDTH = 1.42
"""Top-quark total width (PDG)."""

W_MASS_NW = 80.4
"""W mass assumed by the Neutrino Weighting and ellipse presets (AnalysisTop, NeutrinoWeighter)."""

B_MASS = 4.5
"""b-quark mass assumed by the analytic methods for b-jets (AnalysisTop, NeutrinoWeighter)."""

ELECTRON_MASS = 0.000511
MUON_MASS = 0.10566

SQRT_S = 13000.0
"""pp centre-of-mass energy of the generated samples (Pythia ``Beams:eCM``), shown on figures."""

MAX_COLLISION_ENERGY = 14000.0
"""Design pp centre-of-mass energy of the LHC (GeV), the physical bound on inputs and outputs.

No object of an LHC collision carries more energy than the collision, nor more
transverse momentum (or MET) than half of it, nor more mass: inputs beyond are
refused before any method sees them (:mod:`nuanalysis.validation`), neutrino
solutions beyond are not ``valid`` (:class:`nuanalysis.methods.registry.NeutrinoResult`).
"""

TOP_MASS_RANGE = (50.0, 300.0)
"""Top-quark masses (GeV) a method may assume, per event or for all: generated masses (a
Breit–Wigner of width :data:`TOP_WIDTH` about 165–180 GeV in mass scans) lie well inside."""

W_MASS_RANGE = (1.0, 160.0)
"""W masses (GeV) a method may assume: a W from a top decay is lighter than m_t − m_b
(an off-shell W's true mass, used in closure tests, included)."""

B_MASS_RANGE = (0.0, 20.0)
"""b-jet masses (GeV) a method may assume (:data:`B_MASS`; measured b-jet masses are
mostly 5–15 GeV)."""
