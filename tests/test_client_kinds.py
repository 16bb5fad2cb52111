"""One class per client kind (app/clients/kinds): the registry, the detection order, a kind of a test's own.

The detection is checked against the probe it replaced: the verdict part of the
shell probe of commit abd6905 (app/clients/detect.py PROBE), run by sh over every
combination of the facts it read, must agree with the kinds' signs.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path
from typing import Iterator, Sequence

import pytest

from app.clients.configure import ClientSpec, configure_clients, steps_for
from app.clients.detect import detect, parse_probe, probe_script
from app.clients.facts import ClientFacts
from app.clients.kinds import (
    SYSTEM,
    UNKNOWN,
    ClientKind,
    Proof,
    Sign,
    all_kinds,
    detect_kind,
    detection_order,
    kind_named,
    kind_names,
    profile_kind_names,
    register,
    unregister,
)
from app.clients.model import RegistryTarget
from app.events import EventBus, ScopedEmitter
from app.steps import Status, Step
from app.transport import Command, Transport
from app.transport.local import LocalTransport

REGISTRY = RegistryTarget("203.0.113.10", 5000, tls=True, ca_pem=b"CA")

# The verdict of the probe before the kinds (abd6905 app/clients/detect.py), word for word, fed
# with facts instead of reading them: $1 os, $2 binaries, $3 running, $4 init, $5 sysconfig, $6 b2d.
_OLD_VERDICT = r'''
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
while IFS='|' read -r os bins run init sysconfig b2d; do
if [ "$os" = Darwin ]; then echo desktop; continue; fi
if [ "$b2d" = yes ]; then echo boot2docker; continue; fi
docker_kind() {
  if [ "$sysconfig" = yes ]; then echo rhel; elif [ "$init" = systemd ]; then echo linux; else echo sysv; fi
}
if has "$run" dockerd; then docker_kind
elif has "$run" crio; then echo podman
elif has "$run" containerd; then echo containerd
elif has "$bins" podman || has "$bins" crio; then echo podman
elif has "$bins" dockerd || has "$bins" docker; then docker_kind
elif has "$bins" containerd; then echo containerd
else echo unknown; fi
done
'''
BINARIES = ("dockerd", "docker", "containerd", "ctr", "podman", "crio")
DAEMONS = ("dockerd", "containerd", "crio")


def _subsets(words: Sequence[str]) -> Iterator[tuple[str, ...]]:
    for n in range(len(words) + 1):
        yield from itertools.combinations(words, n)


def test_the_kinds_detect_what_the_old_probe_did_for_every_combination_of_facts() -> None:
    cases = [(os, bins, run, init, sysconfig, b2d)
             for os in ("Linux", "Darwin") for bins in _subsets(BINARIES) for run in _subsets(DAEMONS)
             for init in ("systemd", "sysv") for sysconfig in (False, True) for b2d in (False, True)]
    lines = "".join(f"{os}|{' '.join(bins)}|{' '.join(run)}|{init}|{'yes' if sc else 'no'}|{'yes' if b2d else 'no'}\n"
                    for os, bins, run, init, sc, b2d in cases)
    old = subprocess.run(["sh", "-c", _OLD_VERDICT], input=lines, capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    assert len(old) == len(cases) == 8192
    differ = []
    for (os, bins, run, init, sysconfig, b2d), verdict in zip(cases, old, strict=True):
        facts = ClientFacts(system=os, init=init, binaries=bins, running=run,
                            files=("/etc/sysconfig/docker",) * sysconfig + ("/var/lib/boot2docker/profile",) * b2d)
        if detect_kind(facts)[0].name != verdict:
            differ.append((facts, verdict, detect_kind(facts)[0].name))
    assert not differ, differ[:5]
    assert {v for v in old} == {*kind_names(), "unknown"}  # every kind was reached


def test_the_builtin_kinds_are_listed_once_in_the_profile_order() -> None:
    assert kind_names() == ["linux", "sysv", "rhel", "boot2docker", "containerd", "podman", "desktop"]
    # what profiles allowed before the kinds were classes: the same words, in order
    assert profile_kind_names() == ("auto", "linux", "sysv", "rhel", "boot2docker", "containerd", "podman",
                                    "desktop", "local")
    assert list(ClientKind) == [ClientKind(name) for name in kind_names()]
    assert ClientKind.SYSV is ClientKind("sysv") and ClientKind.SYSV.value == "sysv"
    with pytest.raises(ValueError, match="not a client kind"):
        ClientKind("nope")
    assert ClientKind.UNKNOWN is UNKNOWN and UNKNOWN.refusal and UNKNOWN not in list(ClientKind)


def test_each_kind_holds_its_tool_sudo_and_flag_file() -> None:
    assert [(k.name, k.tool, k.sudo) for k in ClientKind] == [
        ("linux", "docker", True), ("sysv", "docker", True), ("rhel", "docker", True),
        ("boot2docker", "docker", True), ("containerd", "ctr", True), ("podman", "podman", True),
        ("desktop", "docker", False)]
    flags = {k.name: getattr(k, "flag_file", None) for k in ClientKind}
    assert flags == {"linux": None, "sysv": ("/etc/default/docker", "DOCKER_OPTS"),
                     "rhel": ("/etc/sysconfig/docker", "OPTIONS"),
                     "boot2docker": ("/var/lib/boot2docker/profile", "EXTRA_ARGS"),
                     "containerd": None, "podman": None, "desktop": None}
    assert steps_for(UNKNOWN, REGISTRY) == []


# -- a kind of this file's own: registering it is all it takes ---------------------------------

class _FakeRuntime(ClientKind):
    """A runtime regwiz does not know, seen by a marker file; its proof reads the marker."""

    name = "fakeruntime"
    label = "a test's own runtime"
    order = 55  # between containerd (50) and podman (60)
    tool = "fakectl"
    binaries = ("fakectl",)
    marker = ""  # set per test (a tmp_path file)

    @property
    def files(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.marker,) if self.marker else ()

    def signs(self) -> Sequence[Sign]:
        # Over everything the machine runs: this machine (with its dockerd) must come out as this kind.
        return (Sign(SYSTEM + 500, "the fake runtime's marker exists", lambda f: self.marker in f.files),)

    def steps(self, registry: RegistryTarget) -> list[Step]:
        return []

    async def prove(self, transport: Transport, registry: RegistryTarget, emit: ScopedEmitter,
                    steps: Sequence[Step] = (), address: str | None = None) -> Proof:
        found = await transport.run(Command("cat", self.marker), emit=emit, check=True)
        return Proof(0.0, f"marker says {found.stdout.strip()}")


@pytest.fixture
def fake_kind(tmp_path: Path) -> Iterator[ClientKind]:
    register(_FakeRuntime)
    kind = ClientKind("fakeruntime")
    kind.marker = str(tmp_path / "fakeruntime.marker")  # type: ignore[attr-defined]
    try:
        yield kind
    finally:
        unregister("fakeruntime")


def test_a_registered_kind_is_in_the_list_the_profile_kinds_and_the_detection_order(fake_kind: ClientKind) -> None:
    assert kind_names() == ["linux", "sysv", "rhel", "boot2docker", "containerd", "fakeruntime", "podman",
                            "desktop"]
    assert profile_kind_names()[-3:] == ("podman", "desktop", "local") and "fakeruntime" in profile_kind_names()
    from app.profiles import parse_profile  # a profile may name it: the profile's allowed kinds are the classes

    assert parse_profile('[[clients]]\nhost = "a"\nkind = "fakeruntime"\n').clients[0].kind == "fakeruntime"
    assert detection_order()[0][1] is fake_kind
    assert fake_kind.marker in probe_script() and "fakectl" in probe_script()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="registered already"):
        register(_FakeRuntime)


def test_a_registered_kind_is_gone_once_unregistered(fake_kind: ClientKind) -> None:
    unregister("fakeruntime")
    assert "fakeruntime" not in kind_names() and all(k is not fake_kind for _, k in detection_order())
    register(_FakeRuntime)  # for the fixture's own unregister


def test_a_registered_kind_is_detected_by_the_real_probe_and_configured_its_own_way(
        fake_kind: ClientKind, tmp_path: Path) -> None:
    marker = Path(fake_kind.marker)  # type: ignore[attr-defined]

    async def scenario() -> None:
        emit = EventBus().scoped(source="t")
        t = LocalTransport()
        await t.connect()
        try:
            before = await detect(t, emit)  # no marker yet: this machine is what it is
            marker.write_text("fake runtime here\n")
            assert await detect(t, emit) is before  # probed once per connection
            after = await detect(t, emit, again=True)
        finally:
            await t.close()
        assert before.kind is not fake_kind and str(marker) not in before.facts.files
        assert after.kind is fake_kind and after.sign is not None and "marker" in after.sign.says

        async def confirm(plans: object) -> bool:
            raise AssertionError("the fake kind plans no change")

        results = await configure_clients([ClientSpec("this machine", LocalTransport)], REGISTRY, EventBus(),
                                          confirm)
        assert [(r.kind, r.status, r.message) for r in results] == [
            (fake_kind, Status.OK, "marker says fake runtime here")]

    asyncio.run(scenario())


def test_a_kind_needs_a_new_plain_name() -> None:
    class Auto(ClientKind):
        name = "auto"

    class Spaced(ClientKind):
        name = "spaced"
        files = ("/etc/a file",)

    for cls in (Auto, Spaced):
        with pytest.raises(ValueError):
            register(cls)
    assert "auto" in profile_kind_names() and "spaced" not in kind_names()


def test_parse_probe_without_facts_is_unknown() -> None:
    assert parse_probe("").kind is UNKNOWN and parse_probe("garbage\n").kind is UNKNOWN


# -- recorded facts: the probe's output on the testbed's hosts ---------------------------------
# Recorded on 2026-12-01 with `host.sh(probe_script())` (docker exec, as root) on fresh testbed hosts
# (images host:f15a636e0929, host-trixie:ccf1bc2bc8d5, host-sid:b0045043cf49); the kinds expected are
# the ones tests/test_clients_testbed.py asserts for the same flavours over SSH.
RECORDED = [
    ('linux_client', 'system: Linux\nbinaries: dockerd docker containerd ctr\nrunning: containerd dockerd\ninit: systemd\nfiles: none\nos-release: none\n',
     'linux', 'dockerd runs under systemd'),
    ('sysv_client', 'system: Linux\nbinaries: dockerd docker containerd ctr\nrunning: dockerd containerd\ninit: sysv\nfiles: none\nos-release: none\n',
     'sysv', 'dockerd runs'),
    ('boot2docker', 'system: Linux\nbinaries: dockerd docker containerd ctr\nrunning: dockerd containerd\ninit: sysv\nfiles: /var/lib/boot2docker/profile\nos-release: none\n',
     'boot2docker', "/var/lib/boot2docker/profile or boot2docker's /etc/os-release"),
    ('bare', 'system: Linux\nbinaries: none\nrunning: none\ninit: systemd\nfiles: none\nos-release: none\n',
     'unknown', None),
    ('podman_client@trixie', 'system: Linux\nbinaries: dockerd docker containerd ctr podman\nrunning: none\ninit: systemd\nfiles: none\nos-release: none\n',
     'podman', 'podman or CRI-O is installed'),
    ('containerd_node@sid', 'system: Linux\nbinaries: dockerd docker containerd ctr podman\nrunning: containerd\ninit: sysv\nfiles: none\nos-release: none\n',
     'containerd', 'containerd runs'),
    ('linux_client@sid', 'system: Linux\nbinaries: dockerd docker containerd ctr podman\nrunning: dockerd containerd\ninit: sysv\nfiles: none\nos-release: none\n',
     'sysv', 'dockerd runs'),
]


@pytest.mark.parametrize("flavour, output, kind, sign", RECORDED, ids=[r[0] for r in RECORDED])
def test_recorded_probe_output_gives_the_kind(flavour: str, output: str, kind: str, sign: str | None) -> None:
    found = parse_probe(output)
    assert (found.kind.name, found.sign.says if found.sign else None) == (kind, sign)
    assert found.facts.system == "Linux" and found.init in ("systemd", "sysv")
    assert found.evidence.startswith("running: ")


# -- the signs' words, in the language in use -------------------------------------------------
RHEL_FACTS = ("system: Linux\nbinaries: dockerd docker\nrunning: dockerd\ninit: systemd\n"
              "files: /etc/sysconfig/docker\nos-release: none\n")
BOOT2DOCKER_FACTS = RECORDED[2][1]


def test_a_signs_words_are_english_on_the_sign_and_translated_where_shown(chinese: None) -> None:
    from app import i18n

    rhel, boot2docker, linux = (parse_probe(RHEL_FACTS).sign, parse_probe(BOOT2DOCKER_FACTS).sign,
                                parse_probe(RECORDED[0][1]).sign)
    assert rhel and boot2docker and linux
    # The English words stay on the sign (whatever the language): what the catalog is keyed by.
    assert (rhel.says, rhel.template) == ("dockerd runs, /etc/sysconfig/docker exists", "dockerd runs, {path} exists")
    assert rhel.said == "dockerd 正在运行，且存在 /etc/sysconfig/docker"
    assert boot2docker.said == "存在 /var/lib/boot2docker/profile，或 /etc/os-release 表明是 boot2docker"
    assert linux.said == "dockerd 由 systemd 管理运行"
    assert kind_named("sysv").said_label == "SysV / upstart 的 Linux"
    assert kind_named("podman").said_label == "podman / CRI-O"  # (a name only: no words to translate)
    i18n.use("en")
    assert (rhel.said, boot2docker.said, linux.said) == (
        "dockerd runs, /etc/sysconfig/docker exists", "/var/lib/boot2docker/profile or boot2docker's /etc/os-release",
        "dockerd runs under systemd")
    assert kind_named("sysv").said_label == "SysV / upstart Linux"


def test_every_registered_signs_words_are_marked_for_the_catalog() -> None:
    from tests.test_i18n import marked_messages

    marked = marked_messages()
    for kind in all_kinds():
        for sign in kind.signs():
            assert (sign.template or sign.says) in marked, (kind.name, sign.says)
