"""Telling what kind of client a machine is: the probe gathers facts, the registered kinds decide.

The probe asks only what the kinds want to know (app/clients/kinds: their
binaries, daemons, marker files, os-release words) and prints it as facts. The
kinds' signs are weighed in the detection order: the system itself first (macOS,
Windows, boot2docker), then the daemon that runs (dockerd running is a Docker
client of the init that runs it; containerd running without dockerd is a
containerd node, Docker maybe installed but stopped; CRI-O running is
podman/CRI-O), and only when nothing runs what is installed.
"""

from __future__ import annotations

import shlex
import weakref
from dataclasses import dataclass, field

from app.clients.facts import ClientFacts
from app.clients.kinds import UNKNOWN, ClientKind, Sign, detect_kind as kind_from_facts, probe_wants
from app.events import ScopedEmitter
from app.i18n import _
from app.transport import Transport, shell


def probe_script() -> str:
    """The probe for the registered kinds: one `key: words` line per fact, no verdict."""
    wants = probe_wants()

    def words(key: str) -> str:
        return " ".join(shlex.quote(w) for w in wants[key]) or "''"

    daemons = "|".join(wants["daemons"]) or "''"  # register() allows only words safe in a case pattern
    return rf'''
echo "system: $(uname -s 2>/dev/null)"
if [ -n "${{WINDIR:-}}" ]; then echo "windows: yes"; fi
has() {{ case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }}
bins=""
for b in {words("binaries")}; do [ -n "$b" ] && command -v "$b" >/dev/null 2>&1 && bins="$bins $b"; done
run=""
for f in /proc/[0-9]*/comm; do
  read -r c 2>/dev/null < "$f" || continue
  case "$c" in {daemons}) has "$run" "$c" || run="$run $c" ;; esac
done
init=sysv; [ -d /run/systemd/system ] && init=systemd
echo "binaries:${{bins:- none}}"
echo "running:${{run:- none}}"
echo "init: $init"
found=""
for p in {words("files")}; do [ -n "$p" ] && [ -f "$p" ] && found="$found $p"; done
echo "files:${{found:- none}}"
words=""
for w in {words("os_release_words")}; do [ -n "$w" ] && grep -qs "$w" /etc/os-release && words="$words $w"; done
echo "os-release:${{words:- none}}"
'''


@dataclass(frozen=True)
class Detection:
    kind: ClientKind
    facts: ClientFacts = field(default_factory=ClientFacts)
    sign: Sign | None = None  # the sign that decided (None: none held, or no probe)

    @property
    def binaries(self) -> tuple[str, ...]:
        return self.facts.binaries

    @property
    def running(self) -> tuple[str, ...]:
        return self.facts.running

    @property
    def init(self) -> str:
        return self.facts.init

    @property
    def evidence(self) -> str:
        """What the verdict rests on, e.g. "running: containerd; installed: ...; init: systemd"."""
        if not self.binaries and not self.running and not self.init:
            return ""
        running = ", ".join(self.running) if self.running else _("no container daemon")
        return _("running: {running}; installed: {installed}; init: {init}").format(
            running=running, installed=", ".join(self.binaries) or _("none"), init=self.init or "?")


def parse_probe(output: str) -> Detection:
    facts = ClientFacts.parse(output)
    if facts.empty:
        return Detection(UNKNOWN, facts)
    kind, sign = kind_from_facts(facts)
    return Detection(kind, facts, sign)


#: One probe per connection: a transport is one connection (a new one for each connect of a spec).
_detected: weakref.WeakKeyDictionary[Transport, Detection] = weakref.WeakKeyDictionary()


async def detect(transport: Transport, emit: ScopedEmitter | None = None, again: bool = False) -> Detection:
    """The kind and the facts it rests on, probed once per transport (``again``: probe anew)."""
    if not again and transport in _detected:
        return _detected[transport]
    result = await transport.run(shell(probe_script()), emit=emit)
    _detected[transport] = detection = parse_probe(result.stdout)
    return detection


async def detect_kind(transport: Transport, emit: ScopedEmitter | None = None) -> ClientKind:
    return (await detect(transport, emit)).kind
