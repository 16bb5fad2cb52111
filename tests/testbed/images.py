"""Builds the testbed's images once and reuses them until their recipe changes.

- ``regwiz-testbed/host:<hash>``: Debian bookworm from debootstrap, with sshd,
  sudo, iproute2, docker.io, containerd, podman and systemd (recipes/host);
  ``regwiz-testbed/host-trixie:<hash>`` and ``host-sid:<hash>`` the same from
  those releases (RELEASES).
- ``regwiz-testbed/host-bare:<hash>`` (``host-bare-trixie``, ...): the same
  with Docker, containerd and podman purged.
- ``regwiz-testbed/registry:<hash>``: the equivalent of Docker Hub's
  ``registry:2``, from Debian's docker-registry binary (recipes/registry).

The tag is a hash of the recipe's files and the release (and, for the
registry, of the binary),
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tests.testbed.docker_cli import LABEL, OWNER_LABEL, PREFIX, docker, image_exists

RECIPES = Path(__file__).parent / "recipes"
LOCK_PATH = Path(tempfile.gettempdir()) / "regwiz-testbed-images.lock"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CMD = '["/usr/local/sbin/testbed-init"]'
#: Debian releases a host can run (Testbed.start(..., release=...)); the first is the default.
RELEASES = ("bookworm", "trixie", "sid")
DEFAULT_RELEASE = RELEASES[0]


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
    host: str  # bookworm's, the default release
    bare: str
    registry: str
    by_release: dict[str, tuple[str, str]] = field(default_factory=dict)  # release: (host, bare)

    def host_for(self, release: str = DEFAULT_RELEASE) -> str:
        return self._pair(release)[0]

    def bare_for(self, release: str = DEFAULT_RELEASE) -> str:
        return self._pair(release)[1]

    def _pair(self, release: str) -> tuple[str, str]:
        if release not in self.by_release:
            raise ValueError(f"unknown release {release!r}; the testbed has {', '.join(RELEASES)}")
        return self.by_release[release]

    def all_refs(self) -> set[str]:
        return {self.registry, *(ref for pair in self.by_release.values() for ref in pair)}


def image_refs() -> Images:
    by_release: dict[str, tuple[str, str]] = {}
    for release in RELEASES:
        tag = _hash_files(_recipe_files("host"), release.encode())
        suffix = "" if release == DEFAULT_RELEASE else f"-{release}"
        by_release[release] = (f"{PREFIX}/host{suffix}:{tag}", f"{PREFIX}/host-bare{suffix}:{tag}")
    registry_binary = Path("/usr/bin/docker-registry")
    registry_extra = registry_binary.read_bytes()[:1 << 20] if registry_binary.exists() else b""
    registry_hash = _hash_files(_recipe_files("registry"), hashlib.sha256(registry_extra).digest())
    host, bare = by_release[DEFAULT_RELEASE]
    return Images(host=host, bare=bare, registry=f"{PREFIX}/registry:{registry_hash}", by_release=by_release)


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


def _build_host(ref: str, release: str = DEFAULT_RELEASE) -> None:
    with tempfile.TemporaryDirectory(prefix=f"regwiz-testbed-host-{release}-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["bash", str(RECIPES / "host" / "build-rootfs.sh"), str(rootfs), apt_mirror(), release])
        _import_rootfs(rootfs, ref, [f"CMD {HOST_CMD}"])


# Every container runtime a release's image has; each is purged only if installed
# (docker-cli is a package of its own from trixie on).
_RUNTIME_PACKAGES = "docker.io docker-cli containerd runc tini podman"
_PURGE_RUNTIMES = (
    f"pkgs=$(dpkg-query -W -f '${{Package}}\\n' {_RUNTIME_PACKAGES} 2>/dev/null) || true; "
    "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --auto-remove $pkgs"
    " && rm -rf /etc/docker /var/lib/docker /etc/default/docker /etc/containerd /etc/init.d/containerd"
    " /etc/containers /var/lib/containers")


def _build_bare(host_ref: str, ref: str) -> None:
    name = f"{PREFIX}-build-bare-{os.getpid()}-{ref.rsplit('/', 1)[-1].replace(':', '-')}"
    docker("rm", "-f", name, check=False)
    try:
        docker("run", "--name", name, "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={os.getpid()}", host_ref, "/bin/sh", "-c",
               _PURGE_RUNTIMES, timeout=600)
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
    keep = current.all_refs()
    listing = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    for ref in listing:
        if ref.startswith(f"{PREFIX}/") and ref not in keep:
            docker("image", "rm", ref, check=False)


def _timed(ref: str, build: Callable[[], None], verbose: bool) -> None:
    if image_exists(ref):
        return
    if verbose:
        _log(f"building {ref} (once; reused until its recipe changes)")
    started = time.monotonic()
    build()
    if verbose:
        _log(f"built {ref} in {time.monotonic() - started:.0f} s")


def _ensure_release(refs: Images, release: str, verbose: bool) -> None:
    host, bare = refs.host_for(release), refs.bare_for(release)
    _timed(host, lambda: _build_host(host, release), verbose)
    _timed(bare, lambda: _build_bare(host, bare), verbose)


def ensure_images(verbose: bool = True, releases: Iterable[str] = RELEASES) -> Images:
    """Build whichever image of these releases is missing; reuse the rest. Safe across processes.

    Releases build side by side: debootstrap mostly waits on the mirror and
    dpkg, so two or three at once take little longer than the slowest alone.
    """
    refs = image_refs()
    releases = list(dict.fromkeys(releases))
    for release in releases:
        refs.host_for(release)  # an unknown release fails before anything is built
    LOCK_PATH.touch(exist_ok=True)
    with LOCK_PATH.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _timed(refs.registry, lambda: _build_registry(refs.registry), verbose)
        missing = [r for r in releases if not (image_exists(refs.host_for(r)) and image_exists(refs.bare_for(r)))]
        if missing:
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=len(missing)) as pool:
                for future in [pool.submit(_ensure_release, refs, r, verbose) for r in missing]:
                    future.result()
            if verbose and len(missing) > 1:
                _log(f"built the images of {', '.join(missing)} in {time.monotonic() - started:.0f} s")
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
