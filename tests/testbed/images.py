"""Builds the testbed's images once and reuses them until their recipe changes.

- ``regwiz-testbed/host:<hash>``: Debian bookworm from debootstrap, with sshd,
  sudo, iproute2, docker.io and systemd (recipes/host).
- ``regwiz-testbed/host-bare:<hash>``: the same with Docker purged.
- ``regwiz-testbed/registry:<hash>``: the equivalent of Docker Hub's
  ``registry:2``, from Debian's docker-registry binary (recipes/registry).

The tag is a hash of the recipe's files (and, for the registry, of the binary),
so a changed recipe builds a new image and an unchanged one is reused. Images of
this prefix with another hash are removed as stale; nothing else is touched.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.docker_cli import LABEL, OWNER_LABEL, PREFIX, docker, image_exists

RECIPES = Path(__file__).parent / "recipes"
LOCK_PATH = Path(tempfile.gettempdir()) / "regwiz-testbed-images.lock"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CMD = '["/usr/local/sbin/testbed-init"]'


def _hash_files(paths: list[Path], extra: bytes = b"") -> str:
    digest = hashlib.sha256(extra)
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _recipe_files(name: str) -> list[Path]:
    return [p for p in (RECIPES / name).iterdir() if p.is_file()]


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (debootstrap fetches from it)."""
    if os.environ.get("REGWIZ_TESTBED_MIRROR"):
        return os.environ["REGWIZ_TESTBED_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        # deb822: "URIs: http://.../debian" in a stanza that lists bookworm
        for stanza in text.split("\n\n"):
            if re.search(r"^Suites:.*\bbookworm\b", stanza, re.M):
                m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", stanza, re.M)
                if m:
                    return m.group(1)
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+bookworm\s", text, re.M)
        if m:
            return m.group(1)
    return DEFAULT_MIRROR


@dataclass(frozen=True)
class Images:
    host: str
    bare: str
    registry: str


def image_refs() -> Images:
    host_hash = _hash_files(_recipe_files("host"))
    registry_binary = Path("/usr/bin/docker-registry")
    registry_extra = registry_binary.read_bytes()[:1 << 20] if registry_binary.exists() else b""
    registry_hash = _hash_files(_recipe_files("registry"), hashlib.sha256(registry_extra).digest())
    return Images(
        host=f"{PREFIX}/host:{host_hash}",
        bare=f"{PREFIX}/host-bare:{host_hash}",
        registry=f"{PREFIX}/registry:{registry_hash}",
    )


def _log(message: str) -> None:
    print(f"[testbed] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _import_rootfs(rootfs: Path, ref: str, changes: list[str]) -> None:
    """tar the tree into `docker import`, streaming (no tarball on disk)."""
    args = ["docker", "import"]
    for change in [*changes, f"LABEL {LABEL}=1"]:
        args += ["--change", change]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    imp = subprocess.run([*args, "-", ref], stdin=tar.stdout, capture_output=True, text=True)
    tar.stdout.close()  # type: ignore[union-attr]
    if tar.wait() != 0 or imp.returncode != 0:
        raise RuntimeError(f"docker import {ref} failed: {imp.stderr}")


def _build_host(ref: str) -> None:
    with tempfile.TemporaryDirectory(prefix="regwiz-testbed-host-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["bash", str(RECIPES / "host" / "build-rootfs.sh"), str(rootfs), apt_mirror()])
        _import_rootfs(rootfs, ref, [f"CMD {HOST_CMD}"])


def _build_bare(host_ref: str, ref: str) -> None:
    name = f"{PREFIX}-build-bare-{os.getpid()}"
    docker("rm", "-f", name, check=False)
    try:
        docker("run", "--name", name, "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={os.getpid()}", host_ref, "/bin/sh", "-c",
               "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --auto-remove docker.io containerd runc tini"
               " && rm -rf /etc/docker /var/lib/docker /etc/default/docker", timeout=600)
        docker("commit", "--change", f"CMD {HOST_CMD}", name, ref)
    finally:
        docker("rm", "-f", name, check=False)


def _build_registry(ref: str) -> None:
    with tempfile.TemporaryDirectory(prefix="regwiz-testbed-registry-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["bash", str(RECIPES / "registry" / "build-rootfs.sh"), str(rootfs)])
        _import_rootfs(rootfs, ref, [
            'ENTRYPOINT ["/bin/registry", "serve", "/etc/docker/registry/config.yml"]',
            "EXPOSE 5000",
            "VOLUME /var/lib/registry",
        ])


def _remove_stale(current: Images) -> None:
    keep = {current.host, current.bare, current.registry}
    listing = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    for ref in listing:
        if ref.startswith(f"{PREFIX}/") and ref not in keep:
            docker("image", "rm", ref, check=False)


def ensure_images(verbose: bool = True) -> Images:
    """Build whichever image is missing; reuse the rest. Safe across processes."""
    refs = image_refs()
    LOCK_PATH.touch(exist_ok=True)
    with LOCK_PATH.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        steps = [
            (refs.host, lambda: _build_host(refs.host)),
            (refs.bare, lambda: _build_bare(refs.host, refs.bare)),
            (refs.registry, lambda: _build_registry(refs.registry)),
        ]
        for ref, build in steps:
            if image_exists(ref):
                continue
            if verbose:
                _log(f"building {ref} (once; reused until its recipe changes)")
            started = time.monotonic()
            build()
            if verbose:
                _log(f"built {ref} in {time.monotonic() - started:.0f} s")
        _remove_stale(refs)
    return refs


def registry_tarball(refs: Images, cache_dir: Path) -> Path:
    """`docker save` of the registry image, tagged registry:2, cached by hash.

    Test hosts load it into their own dockerd as ``registry:2``; the name is
    never given to an image in this machine's daemon, so a user's own
    registry:2 is never touched.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = refs.registry.rsplit(":", 1)[1]
    path = cache_dir / f"registry-2-{tag}.tar"
    if path.exists():
        return path
    for stale in cache_dir.glob("registry-2-*.tar"):
        stale.unlink()
    # `docker save` names the image as it is tagged; retag inside the archive
    # by rewriting the repositories file would be brittle, so save by ref and
    # let loaders tag it `registry:2` (see TestHost.load_registry_image).
    tmp = path.with_suffix(".partial")
    with tmp.open("wb") as out:
        subprocess.run(["docker", "save", refs.registry], stdout=out, check=True)
    tmp.rename(path)
    return path


if __name__ == "__main__":  # pragma: no cover - manual use
    print(ensure_images())
