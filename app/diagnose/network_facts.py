"""What the route check reads from a host, shared by the check (network.py) and its fixes (network_fixes.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app import netmodel

DAEMON_JSON = "/etc/docker/daemon.json"
LOCAL_KV = "/var/lib/docker/network/files/local-kv.db"
# Interfaces Docker itself makes: they describe Docker's state, not the host's.
DOCKER_DEVICES = re.compile(r"^(docker\d+|br-[0-9a-f]+|veth.*)$")
MODERN_DOCKER = "Docker version 20.10.0 (assumed: no docker installed yet)"


@dataclass
class NetworkFacts:
    net: netmodel.HostNetwork  # as the kernel has it, Docker's own devices included
    host_net: netmodel.HostNetwork  # without Docker's own devices and routes
    options: netmodel.DaemonNetworkOptions
    daemon_json: str | None
    flags: str
    flag_source: str
    docker_version: str
    options_error: str | None = None
    local_kv_present: bool = True  # whether LOCAL_KV was there when read (unknown: as if it were)
