"""systemd Linux: dockerd configured by /etc/docker/daemon.json (insecure-registries, SIGHUP)."""

from app.clients.facts import ClientFacts
from app.clients.kinds.base import register
from app.clients.kinds.docker import DockerKind
from app.i18n import N_


@register
class LinuxKind(DockerKind):
    name = "linux"
    label = N_("systemd Linux")
    order = 10
    flavour_weight = 2
    runs_says = N_("dockerd runs under systemd")
    installed_says = N_("Docker is installed under systemd")

    def flavour(self, facts: ClientFacts) -> bool:
        return facts.init == "systemd"
