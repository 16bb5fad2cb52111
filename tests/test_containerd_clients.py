"""containerd's config.toml by its own version, the runtime detection, Docker's image store: no hosts needed.

The config texts are excerpts of `containerd config default` as printed by
Debian trixie's containerd 1.7.24 (version 2) and sid's 2.1.9 (version 3).
"""

from __future__ import annotations

import tomllib

import pytest

from app.clients.configure import steps_for
from app.clients.detect import parse_probe
from app.clients.docker_trust import DockerTrustStep
from app.clients.model import ClientKind, RegistryTarget
from app.events import EventBus
from app.steps import Plan, StepContext
from app.transport import Transport
from app.clients.runtimes import (
    CERTS_D, DOCKER_CERTS_D, ConfigRefused, ContainerdTrustStep, FilesDecision, DockerStore, DockerStoreHostsStep, certs_dir_for, config_version,
    containerd_config_with_path, containerd_major, dumped_config_path, hosts_toml,
)

DEFAULT_1_7 = '''disabled_plugins = []
imports = []
oom_score = 0
root = "/var/lib/containerd"
state = "/run/containerd"
version = 2

[plugins]

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.8"

    [plugins."io.containerd.grpc.v1.cri".image_decryption]
      key_model = "node"

    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = ""

      [plugins."io.containerd.grpc.v1.cri".registry.auths]

      [plugins."io.containerd.grpc.v1.cri".registry.configs]

      [plugins."io.containerd.grpc.v1.cri".registry.headers]

      [plugins."io.containerd.grpc.v1.cri".registry.mirrors]

    [plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]
      tls_cert_file = ""
'''

DEFAULT_2_1 = '''version = 3
root = '/var/lib/containerd'
state = '/run/containerd'
disabled_plugins = []

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    max_concurrent_downloads = 3  # a node's own tuning, kept

    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'registry.k8s.io/pause:3.10'

    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = ''

    [plugins.'io.containerd.cri.v1.images'.image_decryption]
      key_model = 'node'
'''

# Debian's own /etc/containerd/config.toml (trixie and sid ship the same file, version 2).
DEBIAN_SHIPPED = '''version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
'''

TLS = RegistryTarget(host="10.0.0.5", port=5000, tls=True, ca_pem=b"-----BEGIN CERTIFICATE-----\nx\n")
PLAIN = RegistryTarget(host="10.0.0.5", port=5000, tls=False, ca_pem=None)


def test_containerd_major_from_its_version_line() -> None:
    assert containerd_major("containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1") == 1
    assert containerd_major("containerd github.com/containerd/containerd/v2 2.1.9+unknown ") == 2
    assert containerd_major("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1") == 1
    assert containerd_major("bash: containerd: command not found") is None


def test_version_2_file_gets_the_grpc_cri_table_and_keeps_everything_else() -> None:
    for major in (1, 2):  # containerd 2 still reads version 2 files in their own layout
        new = containerd_config_with_path(DEFAULT_1_7, major)
        doc = tomllib.loads(new)
        assert doc["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == CERTS_D
        assert "io.containerd.cri.v1.images" not in doc["plugins"]
        assert doc["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"] == "registry.k8s.io/pause:3.8"
        # one line changed, nothing else
        changed = [(a, b) for a, b in zip(DEFAULT_1_7.splitlines(), new.splitlines(), strict=False) if a != b]
        assert changed == [('      config_path = ""', '      config_path = "/etc/containerd/certs.d"')]


def test_version_3_file_gets_the_cri_images_table_with_comments_kept() -> None:
    new = containerd_config_with_path(DEFAULT_2_1, 2)
    doc = tomllib.loads(new)
    assert doc["plugins"]["io.containerd.cri.v1.images"]["registry"]["config_path"] == CERTS_D
    # the table containerd 2.1.9 would ignore ("Ignoring unknown key in TOML for plugin") is not written
    assert "io.containerd.grpc.v1.cri" not in doc["plugins"]
    assert "# a node's own tuning, kept" in new
    assert len(new.splitlines()) == len(DEFAULT_2_1.splitlines())


def test_debian_shipped_file_keeps_its_version_2_layout() -> None:
    new = containerd_config_with_path(DEBIAN_SHIPPED, 2)
    doc = tomllib.loads(new)
    assert doc["version"] == 2
    assert doc["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == CERTS_D
    assert doc["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"] == "/usr/lib/cni"


def test_a_missing_file_is_written_in_the_daemons_own_layout() -> None:
    v2 = tomllib.loads(containerd_config_with_path(None, 1))
    assert v2["version"] == 2 and v2["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == CERTS_D
    v3 = tomllib.loads(containerd_config_with_path("", 2))
    assert v3["version"] == 3
    assert v3["plugins"]["io.containerd.cri.v1.images"]["registry"]["config_path"] == CERTS_D


def test_an_existing_config_path_is_kept_and_used() -> None:
    text = DEFAULT_2_1.replace("config_path = ''", "config_path = '/etc/k3s/certs.d:/etc/docker/certs.d'")
    assert containerd_config_with_path(text, 2) == text
    assert certs_dir_for(text, 2) == "/etc/k3s/certs.d"
    assert certs_dir_for(DEFAULT_2_1, 2) == CERTS_D


def test_inline_mirrors_or_an_unversioned_file_on_containerd_2_are_refused() -> None:
    with_mirrors = DEFAULT_1_7 + '''
      [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
        endpoint = ["https://mirror.example"]
'''
    with pytest.raises(ConfigRefused, match="mirrors inline"):
        containerd_config_with_path(with_mirrors, 1)
    with pytest.raises(ConfigRefused, match="no `version` key"):
        config_version('[plugins.cri]\n  sandbox_image = "x"\n', 2)
    assert config_version('[plugins.cri]\n  sandbox_image = "x"\n', 1) == 1  # containerd 1.x: version 1
    with pytest.raises(ConfigRefused, match="version = 9"):
        config_version("version = 9\n", 2)


def test_the_dump_is_read_in_the_daemons_layout() -> None:
    assert dumped_config_path(DEFAULT_2_1.replace("config_path = ''", f"config_path = '{CERTS_D}'"), 2) == CERTS_D
    assert dumped_config_path(DEFAULT_2_1, 2) is None  # '' is unset
    assert dumped_config_path(DEFAULT_1_7.replace('config_path = ""', f'config_path = "{CERTS_D}"'), 1) == CERTS_D
    # a grpc.v1.cri registry table in a version 3 dump is not the images plugin's
    wrong = 'version = 3\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/etc/containerd/certs.d"\n'
    assert dumped_config_path(wrong, 2) is None
    assert dumped_config_path("not toml [", 2) is None


def test_hosts_toml_for_a_tls_and_a_plain_registry() -> None:
    tls = tomllib.loads(hosts_toml(TLS))
    assert tls["server"] == "https://10.0.0.5:5000"
    assert tls["host"]["https://10.0.0.5:5000"] == {"capabilities": ["pull", "resolve", "push"],
                                                    "ca": f"{CERTS_D}/10.0.0.5:5000/ca.crt"}
    plain = tomllib.loads(hosts_toml(PLAIN, DOCKER_CERTS_D))
    assert plain["server"] == "http://10.0.0.5:5000" and "ca" not in plain["host"]["http://10.0.0.5:5000"]


def test_docker_store_from_version_and_info() -> None:
    # `docker info --format '{{json .DriverStatus}}'` with the containerd store (seen on sid's 28.5.2)
    store = DockerStore.parse("28.5.2+dfsg4", '[["driver-type","io.containerd.snapshotter.v1"]]')
    assert store.containerd and store.version == (28, 5, 2)
    assert not store.store_by_default and not store.loopback_insecure_only_by_default
    classic = DockerStore.parse("20.10.24+dfsg1", '[["Backing Filesystem","extfs"],["Supports d_type","true"]]')
    assert not classic.containerd and classic.version == (20, 10, 24)
    # Docker 29: the containerd store by default; 29.10: loopback no longer implicitly insecure
    # once insecure-registries is set (moby#53868, commit 06ea9cd3bf; docker-v29.7.2 still appends
    # "::1/128", "127.0.0.0/8" in daemon/pkg/registry/config.go loadInsecureRegistries).
    assert DockerStore.parse("29.0.0", "").store_by_default
    assert not DockerStore.parse("29.7.2", "").loopback_insecure_only_by_default
    assert DockerStore.parse("29.10.0", "").loopback_insecure_only_by_default
    assert DockerStore.parse("", "").version is None


def test_docker_clients_get_the_store_step_but_desktop_does_not() -> None:
    for kind in (ClientKind.LINUX, ClientKind.SYSV, ClientKind.RHEL, ClientKind.BOOT2DOCKER):
        steps = steps_for(kind, PLAIN)
        assert [type(s) for s in steps] == [DockerTrustStep, DockerStoreHostsStep]
    assert [type(s) for s in steps_for(ClientKind.DESKTOP, PLAIN)] == [DockerTrustStep]


@pytest.mark.parametrize("output, kind, running, binaries", [
    # containerd_node: containerd runs, docker is installed but stopped
    ("binaries: dockerd docker containerd ctr podman\nrunning: containerd\ninit: systemd\ncontainerd\n",
     ClientKind.CONTAINERD, ("containerd",), ("dockerd", "docker", "containerd", "ctr", "podman")),
    ("binaries: dockerd docker containerd ctr\nrunning: containerd dockerd\ninit: sysv\nsysv\n",
     ClientKind.SYSV, ("containerd", "dockerd"), ("dockerd", "docker", "containerd", "ctr")),
    ("binaries: none\nrunning: none\ninit: systemd\nunknown\n", ClientKind.UNKNOWN, (), ()),
    # The probe reports facts; the kinds decide (macOS: Docker Desktop, whatever else is there).
    ("system: Darwin\nbinaries: docker\nrunning: none\ninit: sysv\n", ClientKind.DESKTOP, (), ("docker",)),
])
def test_the_probe_says_what_it_found(output: str, kind: ClientKind, running: tuple[str, ...],
                                      binaries: tuple[str, ...]) -> None:
    found = parse_probe(output)
    assert (found.kind, found.running, found.binaries) == (kind, running, binaries)
    if running:
        assert f"running: {', '.join(running)}" in found.evidence
    assert parse_probe("").kind is ClientKind.UNKNOWN


class _Node(Transport):
    """A node whose containerd runs or not (the service check's exit status), nothing else."""

    label = "node"

    def __init__(self, containerd_runs: bool) -> None:
        super().__init__()
        self.containerd_runs = containerd_runs

    async def is_root(self) -> bool:
        return True

    async def _execute(self, command_line: str, stdin: object, sink: object, keep_output: bool,
                       timeout: float | None) -> tuple[int, list[str], list[str]]:
        if "is-active" in command_line:
            return (0 if self.containerd_runs else 3), [], []
        return 1, [], []


@pytest.mark.parametrize("runs", [True, False])
async def test_a_rollback_is_as_before_only_once_containerd_runs_again(runs: bool) -> None:
    # run_step reports "the host is as it was before" only when verify_rollback says nothing is wrong.
    step = ContainerdTrustStep(TLS)
    restarted = Plan("x", decision=FilesDecision(service="containerd", restart=True))  # it ran before
    problem = await step.verify_rollback(StepContext(_Node(runs), EventBus().scoped(source="t")), restarted)
    if runs:
        assert problem is None
    else:
        assert problem is not None and "containerd does not run with them either: it is down on node" in problem
        assert "/etc/init.d/containerd start" in problem and "journalctl -u containerd" in problem
    not_restarted = Plan("x", decision=FilesDecision(service="containerd", restart=False))  # nothing to ask of it
    assert await step.verify_rollback(StepContext(_Node(False), EventBus().scoped(source="t")), not_restarted) is None
