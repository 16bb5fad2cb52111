"""Docker Desktop on macOS or Windows: the user's own ~/.docker, no sudo, restarted from its menu."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from app.clients.kinds.base import SYSTEM, Sign, register
from app.clients.kinds.docker import DockerKind
from app.i18n import N_

if TYPE_CHECKING:
    from app.clients.model import RegistryTarget
    from app.steps import Step


@register
class DesktopKind(DockerKind):
    name = "desktop"
    label = "Docker Desktop"
    order = 70
    sudo = False
    user_daemon = True

    def signs(self) -> Sequence[Sign]:
        return (Sign(SYSTEM + 200, N_("macOS or Windows"), lambda f: f.system == "Darwin" or f.windows),)

    def steps(self, registry: RegistryTarget) -> list[Step]:
        from app.clients.docker_trust import DockerTrustStep

        # Desktop's daemon runs in its own VM: no hosts.toml of its image store to write here.
        return [DockerTrustStep(self, registry)]
