"""Telling what kind of client a machine is, from what is installed and running."""

from __future__ import annotations

from app.clients.model import ClientKind
from app.events import ScopedEmitter
from app.transport import Transport, shell

PROBE = r'''
os=$(uname -s)
if [ "$os" = Darwin ] || [ -n "${WINDIR:-}" ]; then echo desktop; exit 0; fi
if [ -f /var/lib/boot2docker/profile ] || grep -qs boot2docker /etc/os-release; then echo boot2docker; exit 0; fi
if command -v dockerd >/dev/null 2>&1 || command -v docker >/dev/null 2>&1; then
  if [ -f /etc/sysconfig/docker ]; then echo rhel
  elif [ -d /run/systemd/system ]; then echo linux
  else echo sysv; fi
  exit 0
fi
if command -v podman >/dev/null 2>&1 || command -v crio >/dev/null 2>&1; then echo podman; exit 0; fi
if command -v containerd >/dev/null 2>&1; then echo containerd; exit 0; fi
echo unknown
'''


async def detect_kind(transport: Transport, emit: ScopedEmitter | None = None) -> ClientKind:
    result = await transport.run(shell(PROBE), emit=emit)
    try:
        return ClientKind(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ClientKind.UNKNOWN
