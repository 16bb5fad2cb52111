"""RHEL and its kin: dockerd's flags in OPTIONS (/etc/sysconfig/docker), read at start."""

from app.clients.facts import ClientFacts
from app.clients.kinds.base import register
from app.clients.kinds.docker import DockerKind
from app.i18n import N_

SYSCONFIG = "/etc/sysconfig/docker"


@register
class RhelKind(DockerKind):
    name = "rhel"
    label = "RHEL"
    order = 30
    files = (SYSCONFIG,)
    flag_file = (SYSCONFIG, "OPTIONS")
    flavour_weight = 3
    runs_says = N_("dockerd runs, {path} exists")
    installed_says = N_("Docker is installed, {path} exists")
    flavour_values = {"path": SYSCONFIG}

    def flavour(self, facts: ClientFacts) -> bool:
        return SYSCONFIG in facts.files
