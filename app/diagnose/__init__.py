"""The diagnosis step: what the host is, whether Docker can run, what the registry needs."""

from __future__ import annotations

from app.diagnose.base import Check, CheckResult, DiagnosisContext, run_checks
from app.diagnose.network import NetworkCheck
from app.diagnose.resources import ClockCheck, DiskCheck, FirewallCheck, PortCheck
from app.diagnose.system import DockerCheck, SystemCheck


def default_checks() -> list[Check]:
    """In order: later checks use what earlier ones found (init system, docker version)."""
    return [SystemCheck(), DockerCheck(), NetworkCheck(), PortCheck(), DiskCheck(), ClockCheck(), FirewallCheck()]


__all__ = ["Check", "CheckResult", "DiagnosisContext", "default_checks", "run_checks"]
