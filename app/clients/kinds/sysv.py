"""SysV or upstart Linux: dockerd's flags in DOCKER_OPTS (/etc/default/docker), read at start."""

from app.clients.kinds.base import register
from app.clients.kinds.docker import DockerKind
from app.i18n import N_


@register
class SysvKind(DockerKind):
    name = "sysv"
    label = N_("SysV / upstart Linux")
    order = 20
    flag_file = ("/etc/default/docker", "DOCKER_OPTS")
    flavour_weight = 1  # any init: systemd's (linux) and RHEL's signs weigh more
