"""The client kinds: one class per kind, one module each (see base.py); the registry's calls."""

from app.clients.kinds.base import (
    INSTALLED,
    RUNS,
    SYSTEM,
    UNKNOWN,
    ClientKind,
    Proof,
    Sign,
    all_kinds,
    detect_kind,
    detection_order,
    kind_named,
    kind_names,
    probe_wants,
    profile_kind_names,
    register,
    unregister,
)

__all__ = ["INSTALLED", "RUNS", "SYSTEM", "UNKNOWN", "ClientKind", "Proof", "Sign", "all_kinds", "detect_kind",
           "detection_order", "kind_named", "kind_names", "probe_wants", "profile_kind_names", "register",
           "unregister"]
