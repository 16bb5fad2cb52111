"""Starts and removes the testbed's hosts: containers that stand for servers.

Each host is a container on the testbed's own docker network, with its own
address, its own generated SSH host keys, and sshd answering on port 22. The
flavours (FLAVOURS below) are what later issues test against.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import random
import re
import secrets
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable
from pathlib import Path

from tests.testbed.docker_cli import LABEL, OWNER_LABEL, PREFIX, DockerError, docker, docker_json, ids
from tests.testbed.images import DEFAULT_RELEASE, RELEASES, Images, ensure_images

# Every default Docker address pool, as link-scope routes (REFERENCE.md).
ALL_DEFAULT_POOLS = ("172.16.0.0/12", "192.168.0.0/16")


@dataclass(frozen=True)
class Flavour:
    name: str
    init: str  # "systemd" or "sysv": what it runs where systemd can boot (see init_on)
    bare: bool = False
    link_routes: tuple[str, ...] = ()
    gateway_routes: tuple[str, ...] = ()
    docker_running: bool = False  # does dockerd run once the host is up?
    containerd_running: bool = False  # containerd as a service of its own (a Kubernetes node)
    release: str = DEFAULT_RELEASE  # the release it starts on unless told otherwise
    releases: tuple[str, ...] = RELEASES  # the releases it can run on
    why_not_elsewhere: str = ""  # why not on the others, for the message that refuses them


#: The flavours every session shares (the `testbed_hosts` fixture starts them all).
FLAVOURS: dict[str, Flavour] = {f.name: f for f in (
    Flavour("ecs", "systemd"),
    Flavour("ecs_conflict", "systemd", link_routes=ALL_DEFAULT_POOLS),
    Flavour("ecs_gateway_routes", "systemd", gateway_routes=("172.16.0.0/12",)),
    Flavour("linux_client", "systemd", docker_running=True),
    Flavour("sysv_client", "sysv", docker_running=True),
    Flavour("boot2docker", "sysv", docker_running=True),
    Flavour("bare", "systemd", bare=True),
)}
#: Today's runtimes, started by the tests that need them (Testbed.start or fresh_host).
RUNTIME_FLAVOURS: dict[str, Flavour] = {f.name: f for f in (
    # containerd alone, its own `containerd config default` as config.toml; docker installed, disabled.
    Flavour("containerd_node", "systemd", containerd_running=True),
    # Docker 28 with the containerd image store (daemon.json features.containerd-snapshotter).
    Flavour("docker_containerd_store", "systemd", docker_running=True, release="sid"),
    # Ubuntu's systemd-resolved layout: /etc/resolv.conf names only 127.0.0.53.
    Flavour("ubuntu_resolved", "systemd"),
    # podman only: docker and containerd installed, disabled; trixie and sid only (bookworm's image has no podman).
    Flavour("podman_client", "systemd", release="trixie", releases=("trixie", "sid"),
            why_not_elsewhere="bookworm's podman 4.3 does not configure inside debootstrap "
                              "(golang-github-containers-common), so bookworm's image has no podman"),
)}
ALL_FLAVOURS: dict[str, Flavour] = {**FLAVOURS, **RUNTIME_FLAVOURS}

# sid's systemd 262 dropped cgroup v1 (systemd 258) and exits at once on this
# machine's cgroup v1: its hosts run `docker run --init` (a reaping PID 1), then
# sshd and the SysV scripts (Debian's /etc/init.d/docker, the testbed's
# /etc/init.d/containerd), as the sysv flavours do everywhere.
NO_SYSTEMD_RELEASES = frozenset({"sid"})
#: Upstream nameservers of ubuntu_resolved: Aliyun's resolvers, as on an Ubuntu ECS instance.
RESOLVED_UPSTREAMS = ("100.100.2.136", "100.100.2.138")


def parse_spec(spec: str, release: str | None = None) -> tuple[str, str]:
    """("linux_client", "sid") from "linux_client@sid"; else the given or the flavour's own release."""
    name, _, own = spec.partition("@")
    if name not in ALL_FLAVOURS:
        raise ValueError(f"unknown flavour {name!r}; known: {', '.join(ALL_FLAVOURS)}")
    chosen = own or release or ALL_FLAVOURS[name].release
    if chosen not in RELEASES:
        raise ValueError(f"unknown release {chosen!r}; the testbed has {', '.join(RELEASES)}")
    flavour = ALL_FLAVOURS[name]
    if chosen not in flavour.releases:
        where = " and ".join(flavour.releases)
        raise ValueError(f"{name} runs only on {where}, not on {chosen}: {flavour.why_not_elsewhere}; "
                         f"start {name}@{flavour.releases[0]} instead")
    return name, chosen


def init_on(flavour: Flavour, release: str) -> str:
    """The init a host of this flavour runs on this release."""
    return "sysv" if release in NO_SYSTEMD_RELEASES else flavour.init

SYSTEMD_FLAGS = [
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker",
]
# What runs dockerd in a container here (REFERENCE.md: --privileged fails).
CONTAINER_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host",
]
# Docker 26 and 28 write disable_ipv6 of a new container's eth0 from dockerd's own /proc and
# fail the container when they cannot ("failed to disable IPv6 on container's interface eth0":
# setIPv6 in libnetwork/osl/namespace_linux.go at v26.1.5 and v28.5.2; 26's escape hatch
# DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE is gone in 28, and a daemon.json with "ipv6" would test
# another daemon than the users'). Without --privileged, docker mounts a host's /proc/sys
# read-only. So on these releases the testbed makes /proc/sys/net alone writable inside the
# host, by a bind mount onto itself (CAP_SYS_ADMIN, no user namespace): the net sysctls of the
# host's own network namespace and of the containers' namespaces in it. Outside init_net the
# kernel registers only per-namespace net sysctls, and the few global ones it shows are
# read-only there (nf_conntrack_max), so nothing of this machine or of another container becomes
# writable; the rest of /proc/sys stays read-only (kernel.*, vm.*, fs.*), and nothing is
# unmasked. trixie's systemd-sysctl runs once /proc/sys/net is writable (its condition) and
# finds its kernel.* lines refused (seen: the unit succeeds, this machine's values unchanged).
# `--security-opt systempaths=unconfined`, which also works, would make all of /proc/sys and
# /proc/sysrq-trigger writable and unmask /proc/kcore and others: a host's sysctl.d
# (kernel.core_pattern on trixie) would then reach this machine's kernel.
# bookworm's 20.10 does not set disable_ipv6, and its hosts stay as they were.
NET_SYSCTLS_WRITABLE_RELEASES = frozenset({"trixie", "sid"})
OPEN_NET_SYSCTLS = "mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net"


@dataclass
class ClientKey:
    """The key pair tests log in with (an OpenSSH private key file)."""

    path: Path
    public: str

    @classmethod
    def generate(cls, directory: Path) -> "ClientKey":
        import asyncssh  # the testbed uses the app's own dependency for keys

        key = asyncssh.generate_private_key("ssh-ed25519", comment="regwiz-testbed")
        path = directory / "id_ed25519"
        key.write_private_key(str(path))
        path.chmod(0o600)
        public = key.export_public_key().decode().strip()
        (directory / "id_ed25519.pub").write_text(public + "\n")
        return cls(path, public)


@dataclass
class TestHost:
    flavour: Flavour
    container: str
    address: str
    client_key: ClientKey
    root_password: str
    sudo_user: str = "deploy"
    sudo_password: str = ""
    key_user: str = "keyonly"
    boot2docker_user: str = "docker"
    boot2docker_password: str = "tcuser"
    port: int = 22
    host_keys: list[str] = field(default_factory=list)
    release: str = DEFAULT_RELEASE

    __test__ = False  # not a pytest test class

    @property
    def name(self) -> str:
        return self.flavour.name

    @property
    def init(self) -> str:
        """"systemd" (PID 1) or "sysv" (docker's --init, then SysV scripts)."""
        return init_on(self.flavour, self.release)

    def exec(self, *argv: str, check: bool = True, input: str | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command in the host as root, outside SSH: the test's own view."""
        args = ["exec", "-i", self.container, *argv] if input is not None else ["exec", self.container, *argv]
        return docker(*args, input=input.encode() if input is not None else None, check=check, timeout=timeout)

    def sh(self, script: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.exec("sh", "-c", script, check=check, timeout=timeout)

    def read_host_keys(self) -> list[str]:
        out = self.sh("cat /etc/ssh/ssh_host_*_key.pub").stdout
        self.host_keys = [line.strip() for line in out.splitlines() if line.strip()]
        return self.host_keys

    def known_hosts_lines(self) -> list[str]:
        pattern = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return [f"{pattern} {' '.join(k.split()[:2])}" for k in self.host_keys]

    def write_known_hosts(self, path: Path) -> Path:
        path.write_text("\n".join(self.known_hosts_lines()) + "\n")
        return path

    def regenerate_host_keys(self) -> None:
        """Give the host new SSH host keys: a man in the middle, as a client sees it."""
        self.sh("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q")
        if self.init == "systemd":
            self.sh("systemctl reload ssh")
        else:
            self.sh("pkill -HUP -x sshd")
        self.read_host_keys()

    def load_registry_image(self, tarball: Path) -> None:
        """Give the host's own dockerd `registry:2` (built here, no Docker Hub)."""
        with tarball.open("rb") as data:
            proc = subprocess.run(["docker", "exec", "-i", self.container, "docker", "load"],
                                  stdin=data, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise DockerError(f"docker load on {self.name}: {proc.stderr}")
        loaded = proc.stdout.strip().rsplit(" ", 1)[-1]
        self.exec("docker", "tag", loaded, "registry:2")
        self.exec("docker", "rmi", loaded)

    def restart(self, wait_for_ssh: bool = True) -> None:
        """Reboot the host (its init runs again; files, enabled services and host keys stay)."""
        docker("restart", "--time", "10", self.container, timeout=120)
        info = docker_json("container", "inspect", self.container)[0]
        if not info["State"]["Running"]:
            raise HostDied(death_report(self.name, self.container, self.init, "restart"))
        self.open_net_sysctls()
        address = next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
        if address != self.address:  # certificates and profiles name the old one
            raise DockerError(f"{self.name} came back as {address}, not {self.address}")
        if wait_for_ssh:
            try:
                _wait_for_ssh_banner(self.address, self.port, time.monotonic() + 120, self.running)
            except ContainerExited:
                raise HostDied(death_report(self.name, self.container, self.init, "restart")) from None

    def open_net_sysctls(self) -> None:
        """On trixie and sid, /proc/sys/net writable for the host's dockerd (NET_SYSCTLS_WRITABLE_RELEASES).

        A mount lasts as long as the container runs: after a start or a restart, before the
        host's dockerd is first asked to start a container (one it restores at boot may lose).
        """
        if self.release in NET_SYSCTLS_WRITABLE_RELEASES and not self.flavour.bare:
            done = self.sh(OPEN_NET_SYSCTLS, check=False)
            if done.returncode != 0:
                if not self.running():
                    raise ContainerExited("the container exited")
                raise DockerError(f"making /proc/sys/net writable on {self.name}: {done.stderr.strip()}")

    def running(self) -> bool:
        state = docker("container", "inspect", "--format", "{{.State.Running}}", self.container, check=False)
        return state.stdout.strip() == "true"

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        _wait_for_ssh_banner(self.address, self.port, deadline, self.running)
        if self.init == "systemd":
            # Any state but starting/initializing means boot is over
            # ("degraded" is fine: ecs_conflict may leave a failed unit).
            while time.monotonic() < deadline:
                state = self.exec("systemctl", "is-system-running", check=False).stdout.strip()
                if state not in ("initializing", "starting", ""):
                    if state == "degraded":
                        self._check_inotify_at_boot()
                    break
                if not state and not self.running():
                    raise ContainerExited("the container exited")
                time.sleep(0.3)
        waits = [("dockerd", ("docker", "info", "--format", "{{.ID}}"))] if self.flavour.docker_running else []
        if self.flavour.containerd_running:
            waits.append(("containerd", ("ctr", "version")))
        for daemon, probe in waits:
            while time.monotonic() < deadline:
                if self.exec(*probe, check=False).returncode == 0:
                    break
                if not self.running():
                    raise ContainerExited("the container exited")
                time.sleep(0.3)
            else:
                raise TimeoutError(f"{daemon} on {self.name} did not answer in {timeout} s")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"testbed host {self.name} was not ready in {timeout} s")
        self.read_host_keys()

    def _check_inotify_at_boot(self) -> None:
        """A systemd that could not get inotify instances boots on, degraded, with units missing."""
        out = self.sh("journalctl -b -q --no-pager 2>/dev/null | grep -m 5 -i 'inotify'", check=False).stdout
        if out.strip():
            headroom = inotify_headroom([self.init])
            raise HostDied(f"testbed host {self.name} booted degraded: its systemd could not create "
                           f"inotify objects, the inotify headroom is exhausted ({headroom.summary()}); "
                           f"{_RAISE_HINT}\n--- journalctl -b | grep inotify ---\n{out.rstrip()}")


def _wait_for_ssh_banner(address: str, port: int, deadline: float,
                         alive: Callable[[], bool] = lambda: True) -> None:
    while time.monotonic() < deadline:
        if not alive():
            raise ContainerExited("the container exited")
        try:
            with socket.create_connection((address, port), timeout=2) as sock:
                sock.settimeout(2)
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"no SSH banner from {address}:{port}")


def _owner_alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> int:
    """Remove testbed containers, networks and volumes whose test run has ended.

    Only objects that carry the testbed's label are looked at, and only those
    whose owner process is gone are removed: another run in progress keeps its
    hosts, and nothing of the user's is ever touched.
    """
    removed = 0
    for kind in ("container", "network"):
        # The owner label is set only on what a run creates (an image's labels
        # are inherited by any container made from it, so LABEL alone is not
        # proof that the testbed made a container).
        for object_id in ids(kind, [f"label={LABEL}", f"label={OWNER_LABEL}"]):
            fmt = "{{index .Config.Labels \"%s\"}}" if kind == "container" else "{{index .Labels \"%s\"}}"
            owner = docker(kind, "inspect", "--format", fmt % OWNER_LABEL, object_id, check=False).stdout.strip()
            if owner and not _owner_alive(owner):
                force = ["-f", "-v"] if kind == "container" else []
                docker(kind, "rm", *force, object_id, check=False)
                removed += 1
    for volume in ids("volume", [f"label={LABEL}", "dangling=true"]):
        docker("volume", "rm", volume, check=False)
    return removed


def _used_networks() -> list[ipaddress.IPv4Network]:
    nets: list[ipaddress.IPv4Network] = []
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word != "default":
            try:
                nets.append(ipaddress.ip_network(word, strict=False))  # type: ignore[arg-type]
            except ValueError:
                pass
    for net_id in docker("network", "ls", "-q").stdout.split():
        for cfg in docker_json("network", "inspect", net_id)[0].get("IPAM", {}).get("Config") or []:
            if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
                nets.append(ipaddress.ip_network(cfg["Subnet"]))
    return nets


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that overlaps nothing this machine routes."""
    used = _used_networks()
    for candidate in ipaddress.ip_network("10.213.0.0/16").subnets(new_prefix=24):
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free /24 for the testbed network in 10.213.0.0/16")


class Testbed:
    """The hosts of one test run. Use as a context manager, or call close()."""

    __test__ = False

    def __init__(self, work_dir: Path | None = None) -> None:
        self.owner = str(os.getpid())
        self.run_id = f"{self.owner}-{secrets.token_hex(2)}"
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="regwiz-testbed-"))
        self.images: Images | None = None
        self.network: str | None = None
        self.hosts: list[TestHost] = []
        self.client_key: ClientKey | None = None
        self._counter = 0
        self._releases_ready: set[str] = set()

    def __enter__(self) -> "Testbed":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        remove_stale()
        # The default release now; others on their first start (build makes all three ahead).
        self.images = ensure_images(releases=[DEFAULT_RELEASE])
        self._releases_ready = {DEFAULT_RELEASE}
        self.client_key = ClientKey.generate(self.work_dir)
        self.network = f"{PREFIX}-{self.run_id}"
        # Another run (a second terminal, a benchmark) may take the same free /24
        # between our look and our create: docker refuses the overlap; look again.
        for attempt in range(20):
            try:
                subnet = _free_subnet()
                docker("network", "create", "--driver", "bridge", "--subnet", str(subnet),
                       "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={self.owner}", self.network)
                return
            except DockerError as exc:
                if "overlap" not in str(exc) and "No such network" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.2 + 0.3 * random.random())

    def start(self, *flavours: str, release: str | None = None) -> list[TestHost]:
        """Start hosts of these flavours in parallel; return them ready for SSH.

        `release` (bookworm, trixie, sid) is the Debian release of every one;
        by default each flavour's own (bookworm but for docker_containerd_store
        and podman_client). A flavour given as "NAME@RELEASE" names its own.
        A release's images are built on first use when `build` has not made them.
        Refuses (InotifyHeadroomError) when this machine has too few inotify
        instances left for them: such hosts would die at boot.
        """
        specs = [parse_spec(spec, release) for spec in flavours]
        flavours = tuple(name for name, _ in specs)
        releases = [rel for _, rel in specs]
        check_inotify_headroom([k for name, rel in specs for k in inotify_kinds(ALL_FLAVOURS[name], rel)],
                               self.images.host if self.images else None, hosts=len(specs))
        missing = [r for r in dict.fromkeys(releases) if r not in self._releases_ready]
        if missing:
            self.images = ensure_images(releases=missing)
            self._releases_ready.update(missing)
        with ThreadPoolExecutor(max_workers=max(1, len(flavours))) as pool:
            return list(pool.map(self._start_one, flavours, releases))

    def _start_one(self, flavour_name: str, release: str = DEFAULT_RELEASE) -> TestHost:
        assert self.images and self.network and self.client_key, "Testbed.open() first"
        flavour = ALL_FLAVOURS[flavour_name]
        init = init_on(flavour, release)
        self._counter += 1
        tail = "" if release == DEFAULT_RELEASE else f"-{release}"
        container = f"{PREFIX}-{self.run_id}-{flavour.name.replace('_', '-')}{tail}-{self._counter}"
        image = self.images.bare_for(release) if flavour.bare else self.images.host_for(release)
        args = ["create", "--name", container, "--hostname", flavour.name.replace("_", "-"),
                "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={self.owner}",
                "--network", self.network, *CONTAINER_FLAGS]
        # Image stores on a volume: overlayfs (containerd's and podman's default) cannot stack on
        # the container's own overlay root.
        for store in ("/var/lib/docker", "/var/lib/containerd", "/var/lib/containers"):
            args += ["--mount", f"type=volume,dst={store},volume-label={LABEL}=1"]
        args += SYSTEMD_FLAGS if init == "systemd" else ["--init"]
        docker(*args, image)
        host = TestHost(
            flavour=flavour, container=container, address="", client_key=self.client_key,
            root_password=secrets.token_urlsafe(12), sudo_password=secrets.token_urlsafe(12),
            release=release,
        )
        self.hosts.append(host)
        env = {
            "FLAVOUR": flavour.name, "INIT": init, "RELEASE": release,
            "DOCKER_AT_BOOT": "yes" if flavour.docker_running else "no",
            "CONTAINERD_AT_BOOT": "yes" if flavour.containerd_running else "no",
            "RESOLVED_UPSTREAMS": " ".join(RESOLVED_UPSTREAMS),
            "ROOT_PASSWORD": host.root_password, "SUDO_USER": host.sudo_user,
            "SUDO_PASSWORD": host.sudo_password, "KEY_USER": host.key_user,
            "BOOT2DOCKER_PASSWORD": host.boot2docker_password,
            "AUTHORIZED_KEY": self.client_key.public,
            "LINK_ROUTES": " ".join(flavour.link_routes),
            "GATEWAY_ROUTES": " ".join(flavour.gateway_routes),
        }
        env_file = self.work_dir / f"{container}.env"
        env_file.write_text("".join(f"{k}={_sh_quote(v)}\n" for k, v in env.items()))
        env_file.chmod(0o600)
        docker("cp", str(env_file), f"{container}:/etc/regwiz-testbed/host.env")
        env_file.unlink()
        docker("start", container)
        info = docker_json("container", "inspect", container)[0]
        host.address = info["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        try:
            host.open_net_sysctls()
            host.wait_ready()
        except ContainerExited:
            raise HostDied(death_report(flavour.name, container, init, "boot")) from None
        except HostDied:
            raise
        except TimeoutError as exc:
            logs = docker("logs", "--tail", "40", container, check=False)
            raise TimeoutError(f"{exc}\n--- container log ---\n{logs.stdout}{logs.stderr}") from exc
        return host

    def remove(self, host: TestHost) -> None:
        docker("rm", "-f", "-v", host.container, check=False)
        if host in self.hosts:
            self.hosts.remove(host)

    def close(self) -> None:
        for host in list(self.hosts):
            self.remove(host)
        if self.network:
            docker("network", "rm", self.network, check=False)
            self.network = None
        for volume in ids("volume", [f"label={LABEL}", "dangling=true"]):
            docker("volume", "rm", volume, check=False)


class ContainerExited(TimeoutError):
    """A host's container stopped while it was waited for (see death_report)."""


class HostDied(TimeoutError):
    """A host's container exited during boot; the message says how and why."""


class InotifyHeadroomError(RuntimeError):
    """Too few inotify instances left on this machine for the hosts to start."""


# inotify instances a host needs (fs.inotify.max_user_instances counts them per
# user, and container processes are this machine's root unless dockerd runs
# rootless). Measured here (kernel 6.18, bookworm hosts, one /proc scan every
# 50 ms while the seven flavours started): a systemd host holds 7 owned by root
# once up (systemd 5, systemd-logind 1, containerd 1; dbus-daemon's one is the
# messagebus user's), `bare` 6 (no containerd); while it boots up to 18 for a
# moment (units and `systemctl` calls open their own). The five systemd
# flavours booting together peaked at 51, steady 34. A sysv host holds none
# (0, boot included). So: 10 per systemd host plus 8 for one boot's peak, and 1
# per sysv host for what a `docker exec` may open. The three releases, seen
# here once up (2026-12-01): systemd hosts 6-8 (trixie's systemd 257 as
# bookworm's 252: linux_client 7, podman_client 6, containerd_node@bookworm 8),
# sysv hosts 0-1 (sid's Docker 28: 1), and a containerd that its SysV script
# started (containerd_node@sid) 1 more: "containerd" below, counted on top of
# a sysv host (under systemd it is within the 10). See inotify_kinds.
INOTIFY_PER_HOST = {"systemd": 10, "sysv": 1, "containerd": 1}
INOTIFY_BOOT_PEAK = 8
INOTIFY_RECOMMENDED = 1024  # what tests/testbed/prepare.sh raises the limit to
INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_instances")
_RAISE_HINT = (f"raise the limit as root: sysctl -w fs.inotify.max_user_instances={INOTIFY_RECOMMENDED} "
               "(./dev test does this when run as root), or stop other systemd containers")


def inotify_kinds(flavour: Flavour, release: str) -> list[str]:
    """What a host of this flavour on this release is counted as (keys of INOTIFY_PER_HOST)."""
    init = init_on(flavour, release)
    return [init, "containerd"] if flavour.containerd_running and init == "sysv" else [init]


def inotify_needed(inits: Iterable[str]) -> int:
    """inotify instances that hosts of these inits ("systemd"/"sysv", "containerd" extra) take to boot and run."""
    inits = list(inits)
    if not inits:
        return 0
    boot = INOTIFY_BOOT_PEAK if "systemd" in inits else 0
    return sum(INOTIFY_PER_HOST[init] for init in inits) + boot


def count_inotify_instances(uid: int, proc: Path = Path("/proc")) -> tuple[int, int]:
    """(inotify instances open in processes owned by uid, such processes whose fds were unreadable).

    Counts every /proc/PID/fd/N that links to anon_inode:inotify. Reading
    another user's fds needs root: what cannot be read is reported, so a count
    made as another user is known to be a lower bound.
    """
    count = unreadable = 0
    try:
        entries = os.listdir(proc)
    except OSError:
        return 0, 0
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            if os.stat(proc / pid).st_uid != uid:
                continue
            fds = os.listdir(proc / pid / "fd")
        except PermissionError:
            unreadable += 1
            continue
        except OSError:  # the process ended meanwhile
            continue
        for fd in fds:
            try:
                if os.readlink(proc / pid / "fd" / fd) == "anon_inode:inotify":
                    count += 1
            except OSError:
                pass
    return count, unreadable


def inotify_limit(path: Path = INOTIFY_LIMIT_FILE) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def headroom_problem(used: int, limit: int | None, needed: int, uid: int = 0,
                     unreadable: int = 0, what: str = "the testbed's hosts") -> str | None:
    """Why hosts that need `needed` inotify instances would die here, or None if they fit."""
    if limit is None or needed <= 0 or used + needed <= limit:
        return None
    at_least = "at least " if unreadable else ""
    return (f"not enough inotify instances for {what}: they need about {needed}, and uid {uid} "
            f"already uses {at_least}{used} of fs.inotify.max_user_instances = {limit} "
            f"({max(limit - used, 0)} left); hosts started anyway die at boot (\"the container "
            f"exited\"). To fix: {_RAISE_HINT}")


@functools.lru_cache(maxsize=1)
def containers_uid() -> int:
    """The uid the hosts' processes are charged to: root, or this user under rootless dockerd."""
    try:
        options = docker("info", "--format", "{{json .SecurityOptions}}", check=False, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):  # no docker CLI: whoever runs it later is root
        options = ""
    return os.getuid() if "name=rootless" in options else 0


@dataclass(frozen=True)
class InotifyHeadroom:
    uid: int
    used: int
    unreadable: int
    limit: int | None
    needed: int

    def problem(self, what: str = "the testbed's hosts") -> str | None:
        return headroom_problem(self.used, self.limit, self.needed, self.uid, self.unreadable, what)

    def summary(self) -> str:
        at_least = "at least " if self.unreadable else ""
        return (f"inotify instances of uid {self.uid}: {at_least}{self.used} used of "
                f"fs.inotify.max_user_instances = {self.limit}, about {self.needed} needed")


_COUNT_SCRIPT = (  # the same count, by a shell in a container that sees this machine's processes
    'n=0; for d in /proc/[0-9]*; do [ "$(stat -c %u "$d" 2>/dev/null)" = "$1" ] || continue; '
    'n=$((n + $(find "$d/fd" -maxdepth 1 -lname anon_inode:inotify 2>/dev/null | wc -l))); done; echo "$n"')


def count_inotify_instances_via_docker(uid: int, image: str) -> int | None:
    """The count as root sees it, for a user who may run docker but not read root's /proc."""
    try:
        proc = docker("run", "--rm", "--pid=host", "--network=none", "--cap-add", "SYS_PTRACE",
                      "--security-opt", "apparmor=unconfined", "--label", f"{LABEL}=1",
                      "--label", f"{OWNER_LABEL}={os.getpid()}", "--entrypoint", "/bin/sh",
                      image, "-c", _COUNT_SCRIPT, "count", str(uid), check=False, timeout=60)
        return int(proc.stdout.strip())
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def inotify_headroom(inits: Iterable[str] = (), image: str | None = None) -> InotifyHeadroom:
    """This machine's figures; with `image`, a count this user cannot make is made in a container."""
    uid = containers_uid()
    used, unreadable = count_inotify_instances(uid)
    if unreadable and image:
        counted = count_inotify_instances_via_docker(uid, image)
        if counted is not None:
            used, unreadable = counted, 0
    return InotifyHeadroom(uid, used, unreadable, inotify_limit(), inotify_needed(inits))


def check_inotify_headroom(inits: Iterable[str], image: str | None = None,
                           hosts: int | None = None) -> InotifyHeadroom:
    """Raise InotifyHeadroomError when hosts of these inits would not fit; else the figures."""
    inits = list(inits)
    headroom = inotify_headroom(inits, image)
    count = len(inits) if hosts is None else hosts
    problem = headroom.problem(f"{count} testbed host{'s' if count != 1 else ''}")
    if problem:
        raise InotifyHeadroomError(problem)
    return headroom


_EXHAUSTED = re.compile(r"inotify|Too many open files|EMFILE", re.I)


def death_report(name: str, container: str, init: str, during: str = "boot", log_lines: int = 30) -> str:
    """What is known of a host whose container exited: exit code, last log lines, inotify headroom."""
    try:
        state = docker_json("container", "inspect", "--format", "{{json .State}}", container)
    except (DockerError, ValueError):
        state = {}
    status, code = state.get("Status", "?"), state.get("ExitCode", "?")
    oom, error = state.get("OOMKilled", False), state.get("Error", "")
    logs = docker("logs", "--tail", str(log_lines), container, check=False, timeout=30)
    text = (logs.stdout + logs.stderr).rstrip()
    lines = [f"testbed host {name}: the container exited during {during} "
             f"(status {status}, exit code {code}{', OOM-killed' if oom else ''}"
             f"{', ' + error if error else ''})"]
    headroom = inotify_headroom([init])
    problem = headroom.problem(f"another {init} host")
    if _EXHAUSTED.search(text) or problem:
        lines.append("the inotify headroom is exhausted"
                     + (f": {problem}" if problem else
                        f" (its log says so; now {headroom.summary()}); {_RAISE_HINT}"))
    else:
        lines.append(f"({headroom.summary()})")
    lines.append(f"--- last {log_lines} lines of docker logs {container} ---")
    lines.append(text or "(empty)")
    return "\n".join(lines)


def _sh_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
