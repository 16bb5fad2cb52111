"""podman or CRI-O: a registries.conf.d drop-in and /etc/containers/certs.d; `podman login/pull`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from app.clients.kinds.base import INSTALLED, RUNS, ClientKind, Sign, register
from app.i18n import N_

if TYPE_CHECKING:
    from app.clients.model import RegistryTarget
    from app.steps import Step


@register
class PodmanKind(ClientKind):
    name = "podman"
    label = "podman / CRI-O"
    order = 60
    tool = "podman"
    binaries = ("podman", "crio")
    daemons = ("crio",)

    def signs(self) -> Sequence[Sign]:
        return (Sign(RUNS + 200, N_("CRI-O runs"), lambda f: f.runs("crio")),
                # Before Docker: podman-docker's `docker` is podman.
                Sign(INSTALLED + 300, N_("podman or CRI-O is installed"), lambda f: f.installed("podman", "crio")))

    def steps(self, registry: RegistryTarget) -> list[Step]:
        from app.clients.runtimes import PodmanTrustStep

        return [PodmanTrustStep(registry)]
