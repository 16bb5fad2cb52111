"""Getting the registry image onto the host: pull, pull through a mirror, or upload.

From China, Docker Hub often times out (REFERENCE.md). regwiz probes whether the
host reaches it, bounded to a few seconds, and when it does not, uploads the
image from this machine: `docker save` here, streamed over SSH, `docker load`
there, with progress.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from app.events import ScopedEmitter
from app.i18n import _
from app.transport import Command, Transport, TransportError, shell

DOCKER_HUB_PROBE = "https://registry-1.docker.io/v2/"
REGISTRY_IMAGE = "registry:2"
UPLOAD_IMAGE_ENV = "REGWIZ_UPLOAD_IMAGE"
HUB_PROBE_ENV = "REGWIZ_HUB_PROBE_URL"

Progress = Callable[[int, int], None]  # (bytes sent, bytes expected)


@dataclass(frozen=True)
class ImageSource:
    kind: str = "auto"  # auto | pull | mirror | upload
    image: str = REGISTRY_IMAGE  # the name the host runs
    local_image: str = REGISTRY_IMAGE  # the name on this machine, for uploads
    mirror: str | None = None  # e.g. https://xxxx.mirror.aliyuncs.com
    probe_url: str = DOCKER_HUB_PROBE
    probe_seconds: float = 4.0

    @classmethod
    def from_environment(cls, **choices: Any) -> "ImageSource":
        """The defaults, with the knobs for unusual set-ups (and the testbed) read from the environment:
        which local image to upload (REGWIZ_UPLOAD_IMAGE), where to probe for Docker Hub
        (REGWIZ_HUB_PROBE_URL)."""
        import os

        return cls(local_image=os.environ.get(UPLOAD_IMAGE_ENV, REGISTRY_IMAGE),  # type: ignore[arg-type]
                   probe_url=os.environ.get(HUB_PROBE_ENV, DOCKER_HUB_PROBE), **choices)


class ImageUnavailable(TransportError):
    pass


def image_present(image: str) -> Command:
    """The command that exits 0 when the host holds ``image``."""
    return Command("docker", "image", "inspect", "--format", "{{.Id}}", image)


async def host_has_image(transport: Transport, image: str) -> bool:
    return (await transport.run(image_present(image), sudo=True)).ok


async def probe_registry_reachable(transport: Transport, url: str, seconds: float,
                                   emit: ScopedEmitter | None) -> bool:
    """Any HTTP answer (200, 401) means reachable; a time-out or no route means not."""
    result = await transport.run(
        shell('curl -s -o /dev/null -m "$2" -w "%{http_code}" "$1"', url, f"{seconds:g}"),
        emit=emit, timeout=seconds + 10)
    code = result.stdout.strip()
    return code.isdigit() and code != "000"


class HubProbe:
    """The Docker Hub probe, started early: it may take seconds to time out, so it
    runs while the host is diagnosed and fixed, and the deploy reads its answer."""

    def __init__(self) -> None:
        self._task: asyncio.Task[bool] | None = None

    def start(self, transport: Transport, source: ImageSource, emit: ScopedEmitter | None) -> None:
        if self._task is None and source.kind == "auto":
            self._task = asyncio.ensure_future(
                probe_registry_reachable(transport, source.probe_url, source.probe_seconds, emit))

    async def reachable(self, transport: Transport, source: ImageSource, emit: ScopedEmitter | None) -> bool:
        if self._task is not None:
            try:
                return await self._task
            except TransportError:
                pass  # the early probe's session died: ask again on this one
        return await probe_registry_reachable(transport, source.probe_url, source.probe_seconds, emit)

    def cancel(self) -> None:
        """The run ends without a deploy: stop the probe, and keep its failure (if any) quiet."""
        if self._task is not None:
            if self._task.done():
                if not self._task.cancelled():
                    self._task.exception()
            else:
                self._task.cancel()


async def local_image_size(image: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        "docker", "image", "inspect", "--format", "{{.Size}}", image,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise ImageUnavailable(
            _("this machine has no image {image} to upload ({error}): pull it here first ({command}), or let the "
              "host pull it").format(image=image, error=err.decode().strip() or _("docker failed"),
                                     command=f"docker pull {image}"))
    return int(out.strip() or 0)


async def docker_save(image: str, counter: Callable[[int], None]) -> AsyncIterator[bytes]:
    """`docker save` on this machine, as chunks, without a temporary file."""
    proc = await asyncio.create_subprocess_exec(
        "docker", "save", image, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        while chunk := await proc.stdout.read(256 * 1024):
            counter(len(chunk))
            yield chunk
    finally:
        if proc.returncode is None:
            await proc.wait()
    if proc.returncode != 0:
        err = (await proc.stderr.read()).decode() if proc.stderr else ""
        raise ImageUnavailable(_("{command} failed here: {error}").format(command=f"docker save {image}",
                                                                         error=err.strip()))


async def upload_image(transport: Transport, source: ImageSource, emit: ScopedEmitter | None,
                       progress: Progress | None = None) -> None:
    total = await local_image_size(source.local_image)
    sent = 0

    def count(n: int) -> None:
        nonlocal sent
        sent += n
        if progress is not None:
            progress(sent, total)

    if emit is not None:
        emit.info(_("uploading {image} from this machine (~{megabytes:.0f} MB)").format(
            image=source.local_image, megabytes=total / 1e6))
    # One round trip: the load, then the name the image is used by, the upload's own name dropped (an image
    # loaded by its ID keeps it). The load's own lines are printed as docker printed them.
    result = await transport.run(shell(LOAD_AND_NAME, source.image), sudo=True, emit=emit,
                                 stdin=docker_save(source.local_image, count), timeout=3600)
    if not result.ok:
        raise ImageUnavailable(_("{command} on the host failed: {error}").format(
            command="docker load" if result.exit_status != TAG_FAILED else f"docker tag … {source.image}",
            error=result.stderr.strip()[-300:]))


#: $1: the name the registry's container uses. Exit TAG_FAILED when the tag failed (the load worked).
TAG_FAILED = 42
LOAD_AND_NAME = f'''out=$(docker load) || {{ s=$?; printf '%s\\n' "$out"; exit $s; }}
printf '%s\\n' "$out"
name=$(printf '%s\\n' "$out" | sed -n 's/^Loaded image[^:]*: *//p' | tail -n 1)
if [ -z "$name" ] || [ "$name" = "$1" ]; then exit 0; fi
docker tag "$name" "$1" || exit {TAG_FAILED}
case "$name" in sha256:*) ;; *) docker rmi "$name" >/dev/null || true ;; esac'''


async def set_mirror(transport: Transport, mirror: str, emit: ScopedEmitter | None) -> None:
    """Add a registry mirror to daemon.json and reload dockerd (SIGHUP: no restart)."""
    from app.remote_files import FileChange, RemoteFiles

    files = RemoteFiles(transport, emit)
    current = await files.read("/etc/docker/daemon.json")
    config = json.loads(current) if current and current.strip() else {}
    mirrors = list(config.get("registry-mirrors", []))
    if mirror in mirrors:
        return
    config["registry-mirrors"] = mirrors + [mirror]
    await files.write(FileChange("/etc/docker/daemon.json", current, json.dumps(config, indent=2) + "\n"))
    await transport.run(shell("kill -HUP $(pidof dockerd)"), sudo=True, emit=emit, check=True)


async def ensure_image(transport: Transport, source: ImageSource, emit: ScopedEmitter | None,
                       progress: Progress | None = None, probe: HubProbe | None = None) -> str:
    """Make ``source.image`` present on the host; return how it got there."""
    if await host_has_image(transport, source.image):
        return _("already on the host")
    kind = source.kind
    if kind == "auto":
        reachable = await (probe or HubProbe()).reachable(transport, source, emit)
        if emit is not None:
            emit.info(_("the host reaches Docker Hub: it will pull") if reachable else
                      _("the host does not reach {url} within {seconds:g} s: uploading the image from this machine "
                        "instead").format(url=source.probe_url, seconds=source.probe_seconds))
        kind = "pull" if reachable else "upload"
    if kind == "upload":
        await upload_image(transport, source, emit, progress)
        return _("uploaded from this machine")
    if kind == "mirror":
        if not source.mirror:
            raise ImageUnavailable(_("choose a registry mirror URL (e.g. your Aliyun accelerator address)"))
        await set_mirror(transport, source.mirror, emit)
    result = await transport.run(Command("docker", "pull", source.image), sudo=True, emit=emit, timeout=900)
    if not result.ok:
        raise ImageUnavailable(_("the host could not pull {image}: {error}. Upload it from this machine "
                                 "instead.").format(image=source.image, error=result.stderr.strip()[-300:]))
    return _("pulled through the mirror") if kind == "mirror" else _("pulled by the host")
