"""The ``truth`` method: the generator's neutrinos, the reference for every other method."""

from __future__ import annotations

import numpy as np

from nuanalysis.errors import InputError
from nuanalysis.methods.spec import register
from nuanalysis.neutrino_result import NeutrinoResult
from nuanalysis.padded import PaddedEvents


@register(
    "truth",
    channels=("semileptonic", "dilepton"),
    description="generator-level neutrinos",
    label="Truth",
    color="black",
    reference=True,
)
def truth_neutrinos(events: PaddedEvents) -> NeutrinoResult:
    if events.truth_nu is None:
        raise InputError("method 'truth' needs the truth_nu_* branches, which this input lacks")
    return NeutrinoResult(events.truth_nu.copy(), np.ones(len(events), dtype=bool))
