"""Docker 29.10: an explicit insecure-registries list no longer makes loopback insecure (moby#53868).

From moby's source (github.com/moby/moby, daemon/pkg/registry/config.go, loadInsecureRegistries):
up to docker-v29.7.2, and on master at b985e2313a, dockerd appends "::1/128" and "127.0.0.0/8" to
whatever list it is given, each parsed by netip.ParsePrefix (so CIDRs are valid entries there);
commit 06ea9cd3bf ("We should not set loopback_addr as default insecure registry") removes that
append, in 29.10. regwiz's tunnel mode pulls through localhost, so where regwiz writes
insecure-registries for a 29.10+ daemon, into daemon.json or as `--insecure-registry` flags
(DOCKER_OPTS, OPTIONS, EXTRA_ARGS), it lists loopback itself; for older daemons it writes nothing
more (no diff noise). Facts in (the daemon's version, daemon.json or the flag file), file out.
"""

from __future__ import annotations

import json
import shlex

import pytest

from app.clients.docker_trust import LOOPBACK_INSECURE, DockerTrustStep, docker_version, loopback_entries
from app.clients.edits import flag_values
from app.clients.model import ClientKind, RegistryTarget
from app.events import EventBus
from app.steps import StepContext
from tests.recorded import RecordedTransport

REGISTRY = RegistryTarget("10.0.0.5", 5000, tls=False, ca_pem=None)


class FakeClient(RecordedTransport):
    """A client host: its files, what `docker version` / `dockerd --version` print, systemd."""

    label = "fake"

    def __init__(self, files: dict[str, str], server_version: str | None, dockerd_version: str = "") -> None:
        super().__init__(files)
        self.server_version, self.dockerd_version = server_version, dockerd_version

    async def answer(self, command_line: str) -> tuple[int, list[str], list[str]]:
        if "docker version" in command_line:
            if self.server_version is not None:
                return 0, [self.server_version], []
            return (0, [self.dockerd_version], []) if self.dockerd_version else (1, [], [])
        if "/run/systemd/system" in command_line:
            return 0, ["systemd"], []
        return 1, [], []


async def _daemon_json(kind: ClientKind, files: dict[str, str], server_version: str | None,
                       dockerd_version: str = "") -> dict[str, object]:
    host = FakeClient(files, server_version, dockerd_version)
    plan = await DockerTrustStep(kind, REGISTRY).plan(StepContext(host, EventBus().scoped(source="t")))
    assert plan.refused is None, plan.refused
    [change] = [c for c in plan.changes if c.path.endswith("daemon.json")]
    return json.loads(change.new)


@pytest.mark.parametrize(("text", "version"), [
    ("29.10.0", (29, 10, 0)),
    ("29.10.1-rc.1", (29, 10, 1)),
    ("Docker version 29.10.0, build 1a2b3c4", (29, 10, 0)),  # dockerd --version
    ("20.10.24+dfsg1", (20, 10, 24)),
    ("28.5.2+dfsg3", (28, 5, 2)),
    ("", None),
])
def test_the_full_version_is_parsed(text: str, version: tuple[int, int, int] | None) -> None:
    assert docker_version(text) == version


@pytest.mark.parametrize(("version", "entries"), [
    ((29, 10, 0), LOOPBACK_INSECURE),
    ((29, 11, 3), LOOPBACK_INSECURE),
    ((30, 0, 0), LOOPBACK_INSECURE),
    ((29, 9, 9), ()),
    ((29, 7, 2), ()),  # docker-v29.7.2 still appends loopback itself
    ((29, 1, 10), ()),  # the minor decides, not a string compare
    ((28, 5, 2), ()),
    ((20, 10, 24), ()),
    (None, ()),  # unknown: the old behaviour, no change
])
def test_loopback_only_from_29_10(version: tuple[int, int, int] | None, entries: tuple[str, ...]) -> None:
    assert loopback_entries(version) == entries


def test_the_loopback_entries_are_the_ones_dockerd_used_to_add() -> None:
    assert set(LOOPBACK_INSECURE) == {"127.0.0.0/8", "::1/128"}


async def test_a_29_10_client_gets_loopback_beside_the_registry() -> None:
    config = await _daemon_json(ClientKind.LINUX, {"/etc/docker/daemon.json": '{"labels": ["a=b"]}\n'}, "29.10.0")
    assert config == {"labels": ["a=b"], "insecure-registries": ["10.0.0.5:5000", "127.0.0.0/8", "::1/128"]}


async def test_a_29_10_client_with_its_own_list_keeps_it_and_gets_no_duplicates() -> None:
    files = {"/etc/docker/daemon.json": json.dumps({"insecure-registries": ["127.0.0.0/8", "build:5000"]})}
    config = await _daemon_json(ClientKind.LINUX, files, "29.10.2")
    assert config["insecure-registries"] == ["127.0.0.0/8", "build:5000", "10.0.0.5:5000", "::1/128"]


async def test_a_daemon_that_is_down_is_judged_by_the_installed_dockerd() -> None:
    config = await _daemon_json(ClientKind.LINUX, {}, None, "Docker version 29.10.0, build 1a2b3c4")
    assert config["insecure-registries"] == ["10.0.0.5:5000", "127.0.0.0/8", "::1/128"]


@pytest.mark.parametrize("version", ["29.7.2", "28.5.2+dfsg3", "26.1.5+dfsg1", "20.10.24+dfsg1"])
async def test_older_clients_get_only_the_registry(version: str) -> None:
    config = await _daemon_json(ClientKind.LINUX, {}, version)
    assert config == {"insecure-registries": ["10.0.0.5:5000"]}


async def test_an_unknown_version_adds_nothing() -> None:
    config = await _daemon_json(ClientKind.LINUX, {}, None)
    assert config == {"insecure-registries": ["10.0.0.5:5000"]}


async def test_a_sysv_client_whose_daemon_json_holds_the_list_gets_loopback_there() -> None:
    # insecure-registries already in daemon.json: regwiz adds to it (never also to DOCKER_OPTS).
    files = {"/etc/docker/daemon.json": '{"insecure-registries": []}', "/etc/default/docker": 'DOCKER_OPTS=""\n'}
    config = await _daemon_json(ClientKind.SYSV, files, "29.10.0")
    assert config["insecure-registries"] == ["10.0.0.5:5000", "127.0.0.0/8", "::1/128"]


# -- the flag files: DOCKER_OPTS (SysV, upstart), OPTIONS (RHEL), EXTRA_ARGS (boot2docker) ----------
#
# `--insecure-registry` fills the same list as daemon.json's key: moby docker-v29.7.2
# daemon/command/config.go installCommonConfigFlags,
#   insecureRegistries = opts.NewNamedListOptsRef("insecure-registries", &conf.InsecureRegistries,
#                                                 registry.ValidateIndexName)
#   flags.Var(insecureRegistries, "insecure-registry", ...)
# and daemon/pkg/registry/config.go newServiceConfig hands conf.InsecureRegistries to
# loadInsecureRegistries, whose loopback append 06ea9cd3bf removes. ValidateIndexName refuses only a
# leading or trailing hyphen, so "127.0.0.0/8" and "::1/128" are valid flag values (then ParsePrefix).

FLAG_FILES = [
    (ClientKind.SYSV, "/etc/default/docker", "DOCKER_OPTS"),
    (ClientKind.RHEL, "/etc/sysconfig/docker", "OPTIONS"),
    (ClientKind.BOOT2DOCKER, "/var/lib/boot2docker/profile", "EXTRA_ARGS"),
]


async def _flag_file(kind: ClientKind, files: dict[str, str], server_version: str | None,
                     dockerd_version: str = "") -> str:
    host = FakeClient(files, server_version, dockerd_version)
    plan = await DockerTrustStep(kind, REGISTRY).plan(StepContext(host, EventBus().scoped(source="t")))
    assert plan.refused is None, plan.refused
    path = FLAG_FILES_BY_KIND[kind][0]
    [change] = [c for c in plan.changes if c.path == path]
    assert not [c for c in plan.changes if c.path.endswith("daemon.json")]  # never both (docker/for-linux#327)
    assert plan.actions == ["restart dockerd (flags are read only at start)"]
    return change.new or ""


FLAG_FILES_BY_KIND = {kind: (path, var) for kind, path, var in FLAG_FILES}


@pytest.mark.parametrize(("kind", "path", "var"), FLAG_FILES, ids=[v for _, _, v in FLAG_FILES])
async def test_a_29_10_client_gets_loopback_flags_beside_the_registry(kind: ClientKind, path: str, var: str) -> None:
    new = await _flag_file(kind, {path: f'{var}="--dns 10.0.0.2"\n'}, "29.10.0")
    assert flag_values(new, var, "--insecure-registry") == ["10.0.0.5:5000", "127.0.0.0/8", "::1/128"]
    # still one shell assignment, the user's own flag kept first
    [line] = [x for x in new.splitlines() if x.startswith(f"{var}=")]
    assert shlex.split(line.split("=", 1)[1]) == ["--dns 10.0.0.2 --insecure-registry 10.0.0.5:5000 "
                                                  "--insecure-registry 127.0.0.0/8 --insecure-registry ::1/128"]


@pytest.mark.parametrize(("kind", "path", "var"), FLAG_FILES, ids=[v for _, _, v in FLAG_FILES])
@pytest.mark.parametrize("version", ["29.7.2", "28.5.2+dfsg3", "20.10.24+dfsg1", None])
async def test_older_or_unknown_flag_clients_get_only_the_registry(kind: ClientKind, path: str, var: str,
                                                                   version: str | None) -> None:
    new = await _flag_file(kind, {path: f'{var}=""\n'}, version)
    assert flag_values(new, var, "--insecure-registry") == ["10.0.0.5:5000"]


async def test_a_flag_list_of_its_own_keeps_it_and_gets_no_duplicates() -> None:
    text = 'DOCKER_OPTS="--insecure-registry=127.0.0.0/8 --insecure-registry build:5000"\n'
    new = await _flag_file(ClientKind.SYSV, {"/etc/default/docker": text}, "29.11.1")
    assert flag_values(new, "DOCKER_OPTS", "--insecure-registry") == [
        "127.0.0.0/8", "build:5000", "10.0.0.5:5000", "::1/128"]


async def test_a_stopped_sysv_daemon_is_judged_by_the_installed_dockerd() -> None:
    # Debian's SysV dockerd is often down when regwiz comes (it is restarted after the edit).
    new = await _flag_file(ClientKind.SYSV, {}, None, "Docker version 29.10.0, build 1a2b3c4")
    assert flag_values(new, "DOCKER_OPTS", "--insecure-registry") == ["10.0.0.5:5000", "127.0.0.0/8", "::1/128"]


async def test_a_29_10_flag_file_that_already_names_the_registry_gets_loopback_only() -> None:
    # Set by regwiz before the daemon was upgraded to 29.10: the tunnel would stop working.
    text = 'EXTRA_ARGS="--label a=b --insecure-registry 10.0.0.5:5000"\n'
    new = await _flag_file(ClientKind.BOOT2DOCKER, {"/var/lib/boot2docker/profile": text}, "29.10.0")
    assert flag_values(new, "EXTRA_ARGS", "--insecure-registry") == ["10.0.0.5:5000", "127.0.0.0/8", "::1/128"]


def test_every_flag_file_regwiz_writes_is_covered_here() -> None:
    from app.clients.kinds import all_kinds

    written = {kind: kind.flag_file for kind in all_kinds() if getattr(kind, "flag_file", None)}
    assert {kind: (path, var) for kind, path, var in FLAG_FILES} == written
