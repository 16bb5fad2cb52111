"""RHEL and its kin: dockerd's flags in OPTIONS (/etc/sysconfig/docker), read at start."""

from app.clients.facts import ClientFacts
from app.clients.kinds.base import register
from app.clients.kinds.docker import DockerKind

SYSCONFIG = "/etc/sysconfig/docker"


@register
class RhelKind(DockerKind):
    name = "rhel"
    label = "RHEL"
    order = 30
    files = (SYSCONFIG,)
    flag_file = (SYSCONFIG, "OPTIONS")
    flavour_weight = 3
    flavour_says = f", {SYSCONFIG} exists"

    def flavour(self, facts: ClientFacts) -> bool:
        return SYSCONFIG in facts.files
