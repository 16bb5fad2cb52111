"""What the Docker kinds share: DockerTrustStep (certs.d, daemon.json or the init's flag file), the
containerd image store's hosts.toml, `docker login` and `docker pull`. Not a kind itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from app.clients.facts import ClientFacts
from app.clients.kinds.base import INSTALLED, RUNS, ClientKind, Sign
from app.i18n import N_

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
    # The signs' words (N_: translated where shown), each naming the flavour in full so that a
    # translation words it as a whole; their placeholders' values in flavour_values.
    runs_says = N_("dockerd runs")
    installed_says = N_("Docker is installed")
    flavour_values: dict[str, str] = {}

    def flavour(self, facts: ClientFacts) -> bool:
        return True

    def signs(self) -> Sequence[Sign]:
        return (Sign.worded(RUNS + 300 + self.flavour_weight, self.runs_says,
                            lambda f: f.runs("dockerd") and self.flavour(f), **self.flavour_values),
                # Below podman: podman-docker installs a `docker` that is podman.
                Sign.worded(INSTALLED + 200 + self.flavour_weight, self.installed_says,
                            lambda f: f.installed("dockerd", "docker") and self.flavour(f), **self.flavour_values))

    def steps(self, registry: RegistryTarget) -> list[Step]:
        from app.clients.docker_trust import DockerTrustStep
        from app.clients.runtimes import DockerStoreHostsStep

        # The containerd image store reads hosts.toml files, not insecure-registries (runtimes.py).
        return [DockerTrustStep(self, registry), DockerStoreHostsStep(registry)]
