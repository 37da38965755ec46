"""The methods the studies name by default, declared beside the methods themselves.

Modules outside :mod:`nuanalysis.methods` never spell a method's name; where a
study needs particular methods by default, it imports the choice from here.
"""

MASSCAN_METHODS = ("truth", "flow", "flow-sample", "flow-posterior", "nw", "ellipse")
"""``nuanalysis masscan --methods`` by default: the truth-ν reference, every flow estimate and
the dilepton analytic methods."""

ANALYTIC_BASELINE = "quadratic"
"""The analytic method the χ² assignment's gains are measured from: the m_W constraint of the
ν-Flows paper (SciPost Phys. 14, 159 (2023), §5), the floor of the b_lep accuracy gap."""

FLOW_MODE = "flow"
"""The flow's most probable solution, set against :data:`ANALYTIC_BASELINE` in the paper's
b_lep accuracy ratio."""
