"""Starts and removes the testbed's hosts: containers that stand for servers.

Each host is a container on the testbed's own docker network, with its own
address, its own generated SSH host keys, and sshd answering on port 22. The
flavours (FLAVOURS below) are what later issues test against.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path

from tests.testbed.docker_cli import LABEL, OWNER_LABEL, PREFIX, DockerError, docker, docker_json, ids
from tests.testbed.images import Images, ensure_images

# Every default Docker address pool, as link-scope routes (REFERENCE.md).
ALL_DEFAULT_POOLS = ("172.16.0.0/12", "192.168.0.0/16")


@dataclass(frozen=True)
class Flavour:
    name: str
    init: str  # "systemd" or "sysv"
    bare: bool = False
    link_routes: tuple[str, ...] = ()
    gateway_routes: tuple[str, ...] = ()
    docker_running: bool = False  # does dockerd run once the host is up?


FLAVOURS: dict[str, Flavour] = {f.name: f for f in (
    Flavour("ecs", "systemd"),
    Flavour("ecs_conflict", "systemd", link_routes=ALL_DEFAULT_POOLS),
    Flavour("ecs_gateway_routes", "systemd", gateway_routes=("172.16.0.0/12",)),
    Flavour("linux_client", "systemd", docker_running=True),
    Flavour("sysv_client", "sysv", docker_running=True),
    Flavour("boot2docker", "sysv", docker_running=True),
    Flavour("bare", "systemd", bare=True),
)}

SYSTEMD_FLAGS = [
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker",
]
# What runs dockerd in a container here (REFERENCE.md: --privileged fails).
CONTAINER_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host",
]


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

    __test__ = False  # not a pytest test class

    @property
    def name(self) -> str:
        return self.flavour.name

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
        if self.flavour.init == "systemd":
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
        address = next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
        if address != self.address:  # certificates and profiles name the old one
            raise DockerError(f"{self.name} came back as {address}, not {self.address}")
        if wait_for_ssh:
            _wait_for_ssh_banner(self.address, self.port, time.monotonic() + 120, self.running)

    def running(self) -> bool:
        state = docker("container", "inspect", "--format", "{{.State.Running}}", self.container, check=False)
        return state.stdout.strip() == "true"

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        _wait_for_ssh_banner(self.address, self.port, deadline, self.running)
        if self.flavour.init == "systemd":
            # Any state but starting/initializing means boot is over
            # ("degraded" is fine: ecs_conflict may leave a failed unit).
            while time.monotonic() < deadline:
                state = self.exec("systemctl", "is-system-running", check=False).stdout.strip()
                if state not in ("initializing", "starting", ""):
                    break
                time.sleep(0.3)
        if self.flavour.docker_running:
            while time.monotonic() < deadline:
                if self.exec("docker", "info", "--format", "{{.ID}}", check=False).returncode == 0:
                    break
                time.sleep(0.3)
            else:
                raise TimeoutError(f"dockerd on {self.name} did not answer in {timeout} s")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"testbed host {self.name} was not ready in {timeout} s")
        self.read_host_keys()


def _wait_for_ssh_banner(address: str, port: int, deadline: float,
                         alive: Callable[[], bool] = lambda: True) -> None:
    while time.monotonic() < deadline:
        if not alive():
            raise TimeoutError("the container exited")
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

    def __enter__(self) -> "Testbed":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        remove_stale()
        self.images = ensure_images()
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

    def start(self, *flavours: str) -> list[TestHost]:
        """Start hosts of these flavours in parallel; return them ready for SSH."""
        with ThreadPoolExecutor(max_workers=max(1, len(flavours))) as pool:
            return list(pool.map(self._start_one, flavours))

    def _start_one(self, flavour_name: str) -> TestHost:
        assert self.images and self.network and self.client_key, "Testbed.open() first"
        flavour = FLAVOURS[flavour_name]
        self._counter += 1
        container = f"{PREFIX}-{self.run_id}-{flavour.name.replace('_', '-')}-{self._counter}"
        image = self.images.bare if flavour.bare else self.images.host
        args = ["create", "--name", container, "--hostname", flavour.name.replace("_", "-"),
                "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={self.owner}",
                "--network", self.network, *CONTAINER_FLAGS,
                "--mount", f"type=volume,dst=/var/lib/docker,volume-label={LABEL}=1"]
        args += SYSTEMD_FLAGS if flavour.init == "systemd" else ["--init"]
        docker(*args, image)
        host = TestHost(
            flavour=flavour, container=container, address="", client_key=self.client_key,
            root_password=secrets.token_urlsafe(12), sudo_password=secrets.token_urlsafe(12),
        )
        self.hosts.append(host)
        env = {
            "FLAVOUR": flavour.name, "INIT": flavour.init,
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
            host.wait_ready()
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


def _sh_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
