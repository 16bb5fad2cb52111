"""Tunnel mode: reach the registry through SSH, for a client whose daemon cannot be changed.

Docker treats loopback registries as insecure-allowed, so a client that sees the
registry at localhost:PORT needs no trust settings at all (REFERENCE.md).

- For a remote client, regwiz asks the client's sshd to listen on its own
  127.0.0.1:PORT and carries each connection back to the registry (an SSH
  remote forward): the client's daemon pulls localhost:PORT/NAME.
- For this machine, regwiz listens on 127.0.0.1:PORT here and carries each
  connection over the SSH session to the registry host (a local forward),
  as `ssh -N -L PORT:localhost:REGISTRY_PORT host` would.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh

from app.clients.model import RegistryTarget
from app.i18n import _
from app.transport import TransportError
from app.transport.ssh import SSHTransport


@dataclass
class Tunnel:
    listener: asyncssh.SSHListener
    local_port: int
    registry: RegistryTarget

    @property
    def address(self) -> str:
        return f"localhost:{self.local_port}"

    def usage(self) -> list[str]:
        image = self.registry.image_ref(self.address)
        lines = []
        if self.registry.username:
            lines.append(f"docker login {self.address} -u {self.registry.username}")
        lines += [f"docker pull {image}", f"docker tag IMAGE {self.address}/NAME:TAG && "
                                          f"docker push {self.address}/NAME:TAG"]
        return lines

    def close(self) -> None:
        self.listener.close()


async def open_client_tunnel(client: SSHTransport, registry: RegistryTarget, local_port: int) -> Tunnel:
    """Make the client's localhost:local_port lead to the registry (through this machine)."""
    try:
        listener = await client.connection.forward_remote_port(
            "127.0.0.1", local_port, registry.host, registry.port)
    except asyncssh.Error as exc:
        raise TransportError(_("the client refused the forward on port {port}: {reason} (is the port taken there, "
                               "or is AllowTcpForwarding off in its sshd?)").format(port=local_port,
                                                                                   reason=exc.reason)) from None
    return Tunnel(listener, local_port, registry)


async def open_local_tunnel(registry_host: SSHTransport, registry: RegistryTarget, local_port: int) -> Tunnel:
    """Make this machine's localhost:local_port lead to the registry, over the registry host's SSH."""
    try:
        listener = await registry_host.connection.forward_local_port(
            "127.0.0.1", local_port, "localhost", registry.port)
    except (OSError, asyncssh.Error) as exc:
        raise TransportError(_("could not listen on {address} here: {error}").format(
            address=f"127.0.0.1:{local_port}", error=exc)) from None
    return Tunnel(listener, listener.get_port(), registry)
