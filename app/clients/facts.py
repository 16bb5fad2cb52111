"""What the kind probe found on a client, typed: the system, its init, which runtimes are there and run.

The probe (app/clients/detect.py) asks only what the registered kinds want to
know (their binaries, daemons, marker files and os-release words) and prints one
``key: words`` line per fact; the kinds decide from these facts, not the shell.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientFacts:
    system: str = ""  # `uname -s`: Linux, Darwin, MINGW64_NT-10.0...
    windows: bool = False  # WINDIR is set (a Windows shell such as Git Bash)
    init: str = ""  # systemd | sysv
    binaries: tuple[str, ...] = ()  # installed, of those the kinds ask about
    running: tuple[str, ...] = ()  # daemons running, of those the kinds ask about
    files: tuple[str, ...] = ()  # marker files (asked about by the kinds) that exist
    os_release: tuple[str, ...] = ()  # words (asked about by the kinds) that /etc/os-release holds

    def installed(self, *names: str) -> bool:
        return any(name in self.binaries for name in names)

    def runs(self, daemon: str) -> bool:
        return daemon in self.running

    @property
    def empty(self) -> bool:
        return self == ClientFacts()

    @classmethod
    def parse(cls, output: str) -> ClientFacts:
        """The probe's ``key: words`` lines ("none": no word); other lines are ignored."""
        found: dict[str, str] = {}
        for line in output.splitlines():
            key, colon, value = line.strip().partition(":")
            if colon:
                found[key.strip()] = value.strip()

        def words(key: str) -> tuple[str, ...]:
            value = found.get(key, "")
            return () if value in ("", "none") else tuple(value.split())

        return cls(system=found.get("system", ""), windows=found.get("windows", "") == "yes",
                   init=found.get("init", ""), binaries=words("binaries"), running=words("running"),
                   files=words("files"), os_release=words("os-release"))
