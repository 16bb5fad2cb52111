"""What the Docker kinds share: DockerTrustStep (certs.d, daemon.json or the init's flag file), the
containerd image store's hosts.toml, `docker login` and `docker pull`. Not a kind itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from app.clients.facts import ClientFacts
from app.clients.kinds.base import INSTALLED, RUNS, ClientKind, Sign

if TYPE_CHECKING:
    from app.clients.model import RegistryTarget
    from app.steps import Step


class DockerKind(ClientKind):
    tool = "docker"
    binaries = ("dockerd", "docker")
    daemons = ("dockerd",)
    # Where its init reads dockerd's flags (file, variable): an insecure registry goes there as
    # --insecure-registry instead of daemon.json, and dockerd restarts. None: daemon.json, reloaded.
    flag_file: tuple[str, str] | None = None
    user_daemon = False  # Docker Desktop: the user's own ~/.docker, restarted by the user
    # Among the Docker kinds the more specific sign first (RHEL's file, then systemd, then any init).
    flavour_weight = 0
    flavour_says = ""

    def flavour(self, facts: ClientFacts) -> bool:
        return True

    def signs(self) -> Sequence[Sign]:
        return (Sign(RUNS + 300 + self.flavour_weight, f"dockerd runs{self.flavour_says}",
                     lambda f: f.runs("dockerd") and self.flavour(f)),
                # Below podman: podman-docker installs a `docker` that is podman.
                Sign(INSTALLED + 200 + self.flavour_weight, f"Docker is installed{self.flavour_says}",
                     lambda f: f.installed("dockerd", "docker") and self.flavour(f)))

    def steps(self, registry: RegistryTarget) -> list[Step]:
        from app.clients.docker_trust import DockerTrustStep
        from app.clients.runtimes import DockerStoreHostsStep

        # The containerd image store reads hosts.toml files, not insecure-registries (runtimes.py).
        return [DockerTrustStep(self, registry), DockerStoreHostsStep(registry)]
