"""Neutrino reconstruction methods behind one registry."""

from nuanalysis.methods.registry import (
    MethodSpec,
    NeutrinoResult,
    available_methods,
    check_applicable,
    get_method,
    reconstruct,
    register,
)

__all__ = [
    "MethodSpec",
    "NeutrinoResult",
    "available_methods",
    "check_applicable",
    "get_method",
    "reconstruct",
    "register",
]
