"""boot2docker: dockerd's flags in EXTRA_ARGS of /var/lib/boot2docker/profile (the persistent disk)."""

from typing import Sequence

from app.clients.kinds.base import SYSTEM, Sign, register
from app.clients.kinds.docker import DockerKind
from app.i18n import N_

PROFILE = "/var/lib/boot2docker/profile"


@register
class Boot2dockerKind(DockerKind):
    name = "boot2docker"
    label = "boot2docker"
    order = 40
    files = (PROFILE,)
    os_release_words = ("boot2docker",)
    flag_file = (PROFILE, "EXTRA_ARGS")

    def signs(self) -> Sequence[Sign]:
        return (Sign.worded(SYSTEM + 100, N_("{profile} or boot2docker's /etc/os-release"),
                            lambda f: PROFILE in f.files or "boot2docker" in f.os_release, profile=PROFILE),)
