"""ν-Flows, ν²-Flows and ν-FF: learned neutrino reconstruction (torch + nflows).

* ν-Flows (semileptonic, one ν; Leigh et al., SciPost Phys. 14, 159): Table 1
  features → attention Deep Set + Embedding Network → conditional flow of
  rational-quadratic spline coupling and LU layers over (p_x, p_y, η).
* ν²-Flows (dilepton, two ν): the event as typed objects → transformer
  encoder → class-attention pooling → a 6-D flow over (ν, ν̄).
* ν-FF: the same encoders with a deeper head, a Smooth-L1 regression (§3.3).

Typical use::

    from nuanalysis.flows import sample_posterior
    samples, log_prob = sample_posterior(events, n_samples=256)  # (n, 256, n_nu, 3), (n, 256)

or through the method registry (``flow``, ``flow-sample``, ``ff``), and
``nuanalysis train`` to fit new models.
"""

from nuanalysis.flows.inference import MODE_SAMPLES, flow_mode, regress, sample_posterior
from nuanalysis.flows.model_io import build_model, load_model, save_model, shipped_model_path
from nuanalysis.flows.presets import PRESETS, Architecture, Preset, Training, preset
from nuanalysis.flows.training import train, training_arrays

__all__ = [
    "MODE_SAMPLES",
    "PRESETS",
    "Architecture",
    "Preset",
    "Training",
    "build_model",
    "flow_mode",
    "load_model",
    "preset",
    "regress",
    "sample_posterior",
    "save_model",
    "shipped_model_path",
    "train",
    "training_arrays",
]
