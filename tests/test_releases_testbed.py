"""The testbed's three releases and today's runtime flavours are what they claim, seen through regwiz's SSH.

One batch of hosts, started together (a module fixture): trixie and sid
clients, containerd nodes on bookworm and sid, Docker 28 with the containerd
image store, an Ubuntu-style resolver. What each runs was seen here on 2026-12-01.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from app.transport import Command, shell
from tests.sshutil import root_by_password
from tests.testbed.docker_cli import docker
from tests.testbed.hosts import (
    ALL_FLAVOURS, INOTIFY_PER_HOST, NET_SYSCTLS_WRITABLE_RELEASES, RESOLVED_UPSTREAMS, Testbed, TestHost, init_on, inotify_kinds, inotify_needed,
    parse_spec,
)
from tests.testbed.images import RELEASES

BATCH = ("linux_client@trixie", "linux_client@sid", "containerd_node@bookworm", "containerd_node@sid",
         "docker_containerd_store", "ubuntu_resolved", "podman_client@sid")

# release: (dockerd, containerd, podman) versions as Debian ships them
VERSIONS = {"bookworm": ("20.10.24", "1.6.", None), "trixie": ("26.1.5", "1.7.24", "5.4.2"),
            "sid": ("28.5.2", "2.1.9", "5.8.6")}


@pytest.fixture(scope="module")
def batch(testbed: Testbed) -> Iterator[dict[str, TestHost]]:
    hosts = testbed.start(*BATCH)
    try:
        yield {spec: host for spec, host in zip(BATCH, hosts, strict=True)}
    finally:
        for host in hosts:
            testbed.remove(host)


def test_specs_and_inits_by_release() -> None:
    assert parse_spec("linux_client@sid") == ("linux_client", "sid")
    assert parse_spec("linux_client") == ("linux_client", "bookworm")
    assert parse_spec("linux_client", "trixie") == ("linux_client", "trixie")
    assert parse_spec("docker_containerd_store") == ("docker_containerd_store", "sid")
    with pytest.raises(ValueError, match="unknown release"):
        parse_spec("ecs@buster")
    with pytest.raises(ValueError, match="unknown flavour"):
        parse_spec("nope")
    # sid's systemd 262 cannot boot on cgroup v1: every flavour runs SysV-style there
    assert {init_on(f, "sid") for f in ALL_FLAVOURS.values()} == {"sysv"}
    assert init_on(ALL_FLAVOURS["linux_client"], "trixie") == "systemd"
    assert init_on(ALL_FLAVOURS["sysv_client"], "trixie") == "sysv"
    # containerd started by its SysV script holds an instance of its own (seen: 2 on containerd_node@sid)
    assert inotify_kinds(ALL_FLAVOURS["containerd_node"], "sid") == ["sysv", "containerd"]
    assert inotify_kinds(ALL_FLAVOURS["containerd_node"], "trixie") == ["systemd"]
    assert inotify_needed(["sysv", "containerd"]) == 2


def test_podman_client_on_bookworm_is_refused_at_once(tmp_path: Path) -> None:
    # bookworm's image has no podman (4.3 does not configure under debootstrap): refused before
    # anything is built or started, naming the releases it runs on and why.
    for spec, release in (("podman_client@bookworm", None), ("podman_client", "bookworm")):
        with pytest.raises(ValueError) as refused:
            parse_spec(spec, release)
        message = str(refused.value)
        assert "podman_client runs only on trixie and sid, not on bookworm" in message
        assert "podman 4.3 does not configure inside debootstrap" in message
        assert "podman_client@trixie" in message
    assert parse_spec("podman_client") == ("podman_client", "trixie")
    assert parse_spec("podman_client@sid") == ("podman_client", "sid")
    # Testbed.start refuses it before it touches Docker: this Testbed is not even open.
    bed = Testbed(tmp_path)
    with pytest.raises(ValueError, match="runs only on trixie and sid"):
        bed.start("linux_client", "podman_client", release="bookworm")
    assert bed.hosts == [] and bed.images is None
    # every other flavour runs on every release
    assert {name for name, f in ALL_FLAVOURS.items() if f.releases != RELEASES} == {"podman_client"}


def test_the_readme_says_which_flavour_runs_which_init_on_which_release() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## The testbed", 1)[1].split("Images, built once", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 + len(RELEASES) and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[2:]
    assert list(rows) == list(ALL_FLAVOURS)  # every flavour, in the code's order
    words = {"systemd": "systemd", "sysv": "SysV"}
    for name, flavour in ALL_FLAVOURS.items():
        want = [(words[init_on(flavour, r)] if r in flavour.releases else "refused")
                + ("*" if r == flavour.release else "") for r in RELEASES]
        assert rows[name] == want, name


def test_release_counts_reads_the_releases_of_ids_and_host_specs() -> None:
    from tests.release_counts import _NAMED, _found

    assert _NAMED.findall("test_x[client: CA in certs.d-sid]") == ["sid"]
    assert _NAMED.findall("test_x[linux_client@trixie]") == ["trixie"]
    assert _NAMED.findall("test_predict_bridge[nameserver inside 172.17]") == []  # not "sid" in "inside"
    assert _found(['hosts = testbed.start("ecs", "podman_client@sid")']) == {"bookworm", "sid"}
    assert _found(['fresh_host("docker_containerd_store")', "'podman_client'"]) == {"sid", "trixie"}
    assert _found(['testbed.start(*HOSTS, release="trixie")']) == {"trixie"}
    assert _found(['[f"ecs@{release}" for release in RELEASES]']) == set(RELEASES)
    assert _found(['labels == ["io.regwiz.flavour=linux_client"]']) == set()  # a label, not a host


def test_the_testbed_command_refuses_podman_on_bookworm_before_building() -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "tests.testbed", "up", "ecs", "podman_client@bookworm"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 2, run.stderr
    assert "podman_client runs only on trixie and sid, not on bookworm" in run.stderr
    assert "Traceback" not in run.stderr and "podman_client@trixie" in run.stderr


async def test_each_release_runs_its_own_runtimes_and_init(batch: dict[str, TestHost], tmp_path: Path) -> None:
    for spec in ("linux_client@trixie", "linux_client@sid"):
        host = batch[spec]
        dockerd, containerd, podman = VERSIONS[host.release]
        async with root_by_password(host, tmp_path) as t:
            os_release = (await t.run(Command("cat", "/etc/os-release"), check=True)).stdout
            assert ("trixie" if host.release == "trixie" else "sid") in os_release
            pid1 = (await t.run(Command("ps", "-p", "1", "-o", "comm="))).stdout.strip()
            assert (pid1 == "systemd") == (host.init == "systemd"), (spec, pid1)
            server = await t.run(Command("docker", "version", "--format", "{{.Server.Version}}"), check=True)
            assert server.stdout.startswith(dockerd)
            assert containerd in (await t.run(Command("containerd", "--version"), check=True)).stdout
            assert podman in (await t.run(Command("podman", "--version"), check=True)).stdout
            labels = await t.run(Command("docker", "info", "--format", "{{json .Labels}}"), check=True)
            assert json.loads(labels.stdout) == ["io.regwiz.flavour=linux_client"]  # daemon.json, any init
    assert batch["linux_client@trixie"].init == "systemd" and batch["linux_client@sid"].init == "sysv"


async def test_containerd_node_runs_containerd_alone_with_its_default_config(
        batch: dict[str, TestHost], tmp_path: Path) -> None:
    for spec, version in (("containerd_node@bookworm", 2), ("containerd_node@sid", 3)):
        host = batch[spec]
        async with root_by_password(host, tmp_path) as t:
            running = await t.run(shell("for f in /proc/[0-9]*/comm; do cat \"$f\"; done 2>/dev/null"))
            comms = set(running.stdout.split())
            assert "containerd" in comms and "dockerd" not in comms, (spec, comms)
            assert (await t.run(shell("command -v dockerd"))).ok  # installed, stopped
            config = (await t.run(Command("cat", "/etc/containerd/config.toml"), check=True)).stdout
            default = (await t.run(Command("containerd", "config", "default"), check=True)).stdout
            assert config.strip() == default.strip()
            assert f"version = {version}" in config
            assert (await t.run(Command("ctr", "version"), check=True)).ok


async def test_docker_28_with_the_containerd_image_store(batch: dict[str, TestHost], tmp_path: Path) -> None:
    host = batch["docker_containerd_store"]
    assert host.release == "sid" and host.init == "sysv"
    async with root_by_password(host, tmp_path) as t:
        status = await t.run(Command("docker", "info", "--format", "{{json .DriverStatus}}"), check=True)
        assert "io.containerd.snapshotter.v1" in status.stdout, status.stdout
        version = await t.run(Command("docker", "version", "--format", "{{.Server.Version}}"), check=True)
        assert version.stdout.startswith("28.")


async def test_ubuntu_resolved_lists_only_the_stub(batch: dict[str, TestHost], tmp_path: Path) -> None:
    host = batch["ubuntu_resolved"]
    async with root_by_password(host, tmp_path) as t:
        resolv = (await t.run(Command("cat", "/etc/resolv.conf"), check=True)).stdout
        assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == ["nameserver 127.0.0.53"]
        real = (await t.run(Command("cat", "/run/systemd/resolve/resolv.conf"), check=True)).stdout
        assert [line.split()[1] for line in real.splitlines() if line.startswith("nameserver")] == \
            list(RESOLVED_UPSTREAMS)
        assert (await t.run(Command("systemctl", "is-active", "docker"))).stdout.strip() == "inactive"


async def test_podman_client_has_podman_and_no_daemon_running(batch: dict[str, TestHost], tmp_path: Path) -> None:
    host = batch["podman_client@sid"]
    async with root_by_password(host, tmp_path) as t:
        assert "5.8" in (await t.run(Command("podman", "--version"), check=True)).stdout
        comms = set((await t.run(shell("for f in /proc/[0-9]*/comm; do cat \"$f\"; done 2>/dev/null"))).stdout.split())
        assert not comms & {"dockerd", "containerd"}


def _inotify_of(container: str) -> int:
    """inotify instances held by a container's processes, as this machine counts them."""
    top = docker("top", container, "-eo", "pid").stdout.split()[1:]
    count = 0
    for pid in top:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
            except OSError:
                pass
    return count


def test_only_net_sysctls_are_writable_and_only_on_docker_26_and_28(batch: dict[str, TestHost]) -> None:
    # What the testbed opens for Docker 26/28's disable_ipv6 (hosts.py): /proc/sys/net of the
    # host's own namespace, on trixie and sid alone; the kernel's globals stay read-only.
    assert NET_SYSCTLS_WRITABLE_RELEASES == {"trixie", "sid"}
    for spec in ("linux_client@trixie", "linux_client@sid", "containerd_node@bookworm"):
        host = batch[spec]
        opened = host.release in NET_SYSCTLS_WRITABLE_RELEASES
        mounts = host.sh("awk '$5 ~ \"^/proc/sys\" {print $5, substr($6, 1, 2)}' /proc/self/mountinfo").stdout.split()
        assert mounts == (["/proc/sys", "ro", "/proc/sys/net", "rw"] if opened else ["/proc/sys", "ro"]), (spec, mounts)
        writable = host.sh("for f in /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/core_uses_pid "
                           "/proc/sys/vm/overcommit_memory /proc/sys/fs/file-max /proc/sys/net/core/rmem_max "
                           "/proc/sys/net/netfilter/nf_conntrack_max; do [ -w $f ] && echo $f; done; true").stdout.split()
        # rmem_max is one of init_net's alone (absent here), nf_conntrack_max read-only outside it.
        assert writable == (["/proc/sys/net/ipv4/ip_forward"] if opened else []), (spec, writable)


def test_hosts_of_every_release_fit_the_inotify_figures(batch: dict[str, TestHost]) -> None:
    # The headroom check counts INOTIFY_PER_HOST per host by its init; trixie's systemd 257
    # and the sid hosts (no systemd) must fit those figures as bookworm's do.
    if os.getuid() != 0:
        pytest.skip("reading the containers' processes' fds needs root")
    for spec, host in batch.items():
        used = _inotify_of(host.container)
        kinds = inotify_kinds(host.flavour, host.release)
        assert used <= sum(INOTIFY_PER_HOST[k] for k in kinds), (spec, kinds, used)
