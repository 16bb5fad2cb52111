"""The diagnosis step: what the host is, whether Docker can run, what the registry needs."""

from __future__ import annotations

from typing import Iterable

from app.diagnose.base import Check, CheckResult, DiagnosisContext, run_checks
from app.diagnose.network import NetworkCheck
from app.diagnose.resources import ClockCheck, DiskCheck, FirewallCheck, PortCheck
from app.diagnose.system import DockerCheck, SystemCheck


def default_checks() -> list[Check]:
    """In order: later checks use what earlier ones found (init system, docker version)."""
    return [SystemCheck(), DockerCheck(), NetworkCheck(), PortCheck(), DiskCheck(), ClockCheck(), FirewallCheck()]


def checks_after(fixes: Iterable[object]) -> list[Check]:
    """The checks whose answer the applied fixes can change (in diagnosis order): only those run again.

    A fix names them in ``rechecks`` (check ids); a fix that does not name them may change anything:
    every check runs again.
    """
    wanted: set[str] = set()
    for fix in fixes:
        rechecks = getattr(fix, "rechecks", None)
        if rechecks is None:
            return default_checks()
        wanted.update(rechecks)
    return [check for check in default_checks() if check.check_id in wanted]


__all__ = ["Check", "CheckResult", "DiagnosisContext", "checks_after", "default_checks", "run_checks"]
