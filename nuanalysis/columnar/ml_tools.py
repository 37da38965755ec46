"""A coffea ``ml_tools``-style wrapper of the learned methods, with torch and onnxruntime backends.

coffea's ``coffea.ml_tools`` wraps torch, TorchScript, TensorFlow, xgboost and
Triton models for awkward and dask-awkward inputs, loading each model lazily on
the worker and never pickling it; none runs ONNX Runtime. :class:`NeutrinoFlowWrapper`
does the same for the ν-Flows / ν-FF models: it holds the model's path and the
backend, is cheap to pickle into a dask graph, and on each worker the model (or its
onnxruntime session) is loaded once (:mod:`nuanalysis.flows.model_io` and
:mod:`nuanalysis.flows.runtime` cache them per process). A call is
:func:`nuanalysis.columnar.reconstruct`, so it takes event records and returns
aligned neutrino records, lazily for dask-awkward input.

References: coffea ``ml_tools`` (https://coffea-hep.readthedocs.io, "Machine
learning tools"); ONNX Runtime (https://onnxruntime.ai).
"""

from __future__ import annotations

from pathlib import Path

from nuanalysis.columnar.api import reconstruct
from nuanalysis.errors import OptionError
from nuanalysis.flows.runtime import BACKENDS
from nuanalysis.methods.defaults import FLOW_MODE
from nuanalysis.methods.registry import get_method


class NeutrinoFlowWrapper:
    """``wrapper(events, channel=..., seed=...)``: a learned method on event records.

    ``model``: a ``.pt`` or ``.onnx`` path, or None for the model shipped for the
    events' channel; ``method``: a learned method (``flow``, ``flow-sample``,
    ``flow-posterior``, ``ff``); ``backend``: ``"torch"`` or ``"onnx"``; further
    ``options`` are the method's.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        method: str = FLOW_MODE,
        backend: str = "torch",
        **options,
    ):
        if get_method(method).model_type is None:
            raise OptionError(f"method {method!r} has no model to wrap; choose a learned method")
        if backend not in BACKENDS:
            raise OptionError(f"backend {backend!r} unknown; choose one of {BACKENDS}")
        self.model = None if model is None else str(model)
        self.method = method
        self.backend = backend
        self.options = options

    def __call__(self, events, *, channel: str | None = None, seed: int = 0, **kwargs):
        """Neutrino records aligned with ``events`` (awkward or dask-awkward)."""
        options = {**self.options, **kwargs, "backend": self.backend}
        if self.model is not None:
            options["model"] = self.model
        return reconstruct(self.method, events, channel=channel, seed=seed, **options)

    def __repr__(self) -> str:
        model = self.model or "shipped model"
        return f"NeutrinoFlowWrapper({model!r}, method={self.method!r}, backend={self.backend!r})"
