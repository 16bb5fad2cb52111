"""Telling what kind of client a machine is, from what runs there first, then what is installed.

The daemon that runs decides: dockerd running is a Docker client (of the init
that runs it); containerd running without dockerd is a containerd node (a
Kubernetes node: Docker may be installed but stopped); CRI-O running, or podman
installed, is podman/CRI-O. Only when nothing runs do the installed binaries
decide. The probe says what it found (binaries, daemons, init) before its verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.clients.model import ClientKind
from app.events import ScopedEmitter
from app.transport import Transport, shell

PROBE = r'''
os=$(uname -s)
if [ "$os" = Darwin ] || [ -n "${WINDIR:-}" ]; then echo desktop; exit 0; fi
if [ -f /var/lib/boot2docker/profile ] || grep -qs boot2docker /etc/os-release; then echo boot2docker; exit 0; fi
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
bins=""
for b in dockerd docker containerd ctr podman crio; do command -v "$b" >/dev/null 2>&1 && bins="$bins $b"; done
run=""
for f in /proc/[0-9]*/comm; do
  read -r c 2>/dev/null < "$f" || continue
  case "$c" in dockerd|containerd|crio) has "$run" "$c" || run="$run $c" ;; esac
done
init=sysv; [ -d /run/systemd/system ] && init=systemd
echo "binaries:${bins:- none}"
echo "running:${run:- none}"
echo "init: $init"
docker_kind() {
  if [ -f /etc/sysconfig/docker ]; then echo rhel; elif [ "$init" = systemd ]; then echo linux; else echo sysv; fi
}
if has "$run" dockerd; then docker_kind
elif has "$run" crio; then echo podman
elif has "$run" containerd; then echo containerd
elif has "$bins" podman || has "$bins" crio; then echo podman
elif has "$bins" dockerd || has "$bins" docker; then docker_kind
elif has "$bins" containerd; then echo containerd
else echo unknown; fi
'''


@dataclass(frozen=True)
class Detection:
    kind: ClientKind
    binaries: tuple[str, ...] = ()
    running: tuple[str, ...] = ()
    init: str = ""

    @property
    def evidence(self) -> str:
        """What the verdict rests on, e.g. "containerd runs, dockerd does not; installed: ..."."""
        if not self.binaries and not self.running and not self.init:
            return ""
        running = ", ".join(self.running) if self.running else "no container daemon"
        return (f"running: {running}; installed: {', '.join(self.binaries) or 'none'}; "
                f"init: {self.init or '?'}")


def parse_probe(output: str) -> Detection:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    try:
        kind = ClientKind(lines[-1])
    except (ValueError, IndexError):
        kind = ClientKind.UNKNOWN
    found: dict[str, str] = {}
    for line in lines[:-1]:
        key, _, value = line.partition(":")
        found[key.strip()] = value.strip()

    def words(key: str) -> tuple[str, ...]:
        value = found.get(key, "")
        return () if value in ("", "none") else tuple(value.split())

    return Detection(kind, words("binaries"), words("running"), found.get("init", ""))


async def detect(transport: Transport, emit: ScopedEmitter | None = None) -> Detection:
    result = await transport.run(shell(PROBE), emit=emit)
    return parse_probe(result.stdout)


async def detect_kind(transport: Transport, emit: ScopedEmitter | None = None) -> ClientKind:
    return (await detect(transport, emit)).kind
