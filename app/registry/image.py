"""Getting the registry image onto the host: pull, pull through a mirror, or upload.

From China, Docker Hub often times out (REFERENCE.md). regwiz probes whether the
host reaches it, bounded to a few seconds, and when it does not, uploads the
image from this machine: `docker save` here, streamed over SSH, `docker load`
there, with progress.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

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

    @property
    def pending(self) -> bool:
        """Started and not answered yet."""
        return self._task is not None and not self._task.done()

    async def reachable(self, transport: Transport, source: ImageSource, emit: ScopedEmitter | None) -> bool:
        if self._task is not None and not self._task.cancelled():  # (cancelled once nobody needed it)
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


@dataclass
class UploadRun:
    """An upload under way: how much of it is sent, and a way to stop it between two chunks."""

    total: int = 0
    sent: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: bool = False  # the chunks ended early because ``stop`` was set

    @property
    def fraction(self) -> float:
        return self.sent / self.total if self.total else 0.0


async def stoppable(chunks: AsyncIterator[bytes], run: UploadRun) -> AsyncIterator[bytes]:
    """``chunks``, counted into ``run``, ending early (and closing ``chunks``) once ``run.stop`` is set: the
    command reading them then sees the end of its input and exits on its own."""
    try:
        async for chunk in chunks:
            if run.stop.is_set():
                run.stopped = True
                return
            run.sent += len(chunk)
            yield chunk
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


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
    finished = False
    try:
        while chunk := await proc.stdout.read(256 * 1024):
            counter(len(chunk))
            yield chunk
        finished = True
    finally:
        if proc.returncode is None:
            if not finished:  # the upload stopped early: nobody reads the rest
                proc.kill()
                # asyncio wakes wait() only once the pipes have closed, and a stdout left unread (its
                # reading paused, the buffer full) never sees its end: drain it, or wait() never returns.
                while await proc.stdout.read(256 * 1024):
                    pass
            await proc.wait()
    if proc.returncode != 0:
        err = (await proc.stderr.read()).decode() if proc.stderr else ""
        raise ImageUnavailable(_("{command} failed here: {error}").format(command=f"docker save {image}",
                                                                         error=err.strip()))


async def upload_image(transport: Transport, source: ImageSource, emit: ScopedEmitter | None,
                       progress: Progress | None = None, run: UploadRun | None = None,
                       command: Command | None = None) -> bool:
    """Upload the image; True once the host holds it, False when ``run.stop`` stopped it first (then the
    host's `docker load` read a cut tar, failed and exited: it loads nothing of a tar it could not read
    whole, and no process is left). ``command``: what reads the image on the host instead of the load
    (StagedImage's file)."""
    run = run or UploadRun()
    run.total = total = await local_image_size(source.local_image)

    def count(n: int) -> None:
        if progress is not None:
            progress(run.sent + n, total)

    if emit is not None:
        emit.info(_("uploading {image} from this machine (~{megabytes:.0f} MB)").format(
            image=source.local_image, megabytes=total / 1e6))
    # One round trip: the load, then the name the image is used by, the upload's own name dropped (an image
    # loaded by its ID keeps it). The load's own lines are printed as docker printed them.
    result = await transport.run(command or shell(LOAD_AND_NAME, source.image), sudo=True, emit=emit,
                                 stdin=stoppable(docker_save(source.local_image, count), run), timeout=3600)
    if run.stopped:
        return False
    if not result.ok:
        what = "docker load" if result.exit_status != TAG_FAILED else f"docker tag … {source.image}"
        raise ImageUnavailable(_("{command} on the host failed: {error}").format(
            command=what if command is None else _("writing the image to the host"),
            error=result.stderr.strip()[-300:]))
    return True


async def upload_while_probing(probe: Awaitable[bool], upload: Callable[[UploadRun], Awaitable[bool]],
                               emit: ScopedEmitter | None, url: str, seconds: float) -> bool:
    """The image is needed and the Docker Hub probe has not answered yet: upload at once, meanwhile.
    The probe then says the host reaches Docker Hub while less than half is sent: stop the upload, and
    pull instead. Otherwise the upload goes on. True: uploaded; False: the host is to pull.

    The upload runs in the caller's task (its commands are the step's); the probe's answer is taken
    as it comes, by a callback that decides between two chunks."""
    def say(text: str) -> None:
        if emit is not None:
            emit.info(text)

    def reachable(task: "asyncio.Future[bool]") -> bool:
        if task.cancelled():
            return False
        failure = task.exception()
        if failure is not None and not isinstance(failure, TransportError):
            raise failure
        return failure is None and bool(task.result())  # no answer at all: as good as no route

    run = UploadRun()
    uploading = True

    def answered(task: "asyncio.Future[bool]") -> None:
        if not uploading or task.cancelled():
            return
        share = f"{100 * run.fraction:.0f} %"
        if not reachable(task):
            say(_("the host does not reach {url} within {seconds:g} s: finishing the upload").format(
                url=url, seconds=seconds))
        elif run.fraction >= 0.5:
            say(_("the host reaches Docker Hub, but {share} of the image is sent: finishing the upload").format(
                share=share))
        else:
            say(_("the host reaches Docker Hub ({share} of the image sent): stopping the upload, pulling instead")
                .format(share=share))
            run.stop.set()

    say(_("the host has not reached Docker Hub yet: uploading the image from this machine meanwhile"))
    probing = asyncio.ensure_future(probe)
    probing.add_done_callback(answered)
    try:
        try:
            uploaded = await upload(run)
        except ImageUnavailable as failure:
            uploading = False
            if run.stop.is_set():  # stopped, and the cut load failed in a way of its own: pull all the same
                say(_("the upload stopped with an error ({error}): pulling instead").format(error=failure))
                return False
            await asyncio.wait({probing})
            if reachable(probing):  # e.g. no image here to upload: the host can pull it
                say(_("the upload failed ({error}); the host reaches Docker Hub: pulling instead").format(
                    error=failure))
                return False
            raise
        uploading = False
        if uploaded and run.stop.is_set():
            say(_("the upload ended before it could stop: the host has the image"))
        return uploaded
    finally:
        uploading = False
        if not probing.done():
            probing.cancel()  # not needed any more
            await asyncio.gather(probing, return_exceptions=True)
        elif not probing.cancelled():
            probing.exception()  # retrieved: its answer was taken above, or not needed


#: $1: the name the registry's container uses. Exit TAG_FAILED when the tag failed (the load worked).
TAG_FAILED = 42
LOAD_AND_NAME = f'''out=$(docker load) || {{ s=$?; printf '%s\\n' "$out"; exit $s; }}
printf '%s\\n' "$out"
name=$(printf '%s\\n' "$out" | sed -n 's/^Loaded image[^:]*: *//p' | tail -n 1)
if [ -z "$name" ] || [ "$name" = "$1" ]; then exit 0; fi
docker tag "$name" "$1" || exit {TAG_FAILED}
case "$name" in sha256:*) ;; *) docker rmi "$name" >/dev/null || true ;; esac'''


#: Where `setup --yes` stages the image on the host while dockerd restarts (StagedImage): regwiz's own.
STAGED_IMAGE = "/var/lib/regwiz/staged-image.tar"
#: $1: the file, written under its name once its input ended (StagedImage knows whether it was stopped).
STAGE = 'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat > "$1.part" && mv -f -- "$1.part" "$1"'
#: $1: the image's name, $2: the staged file: loaded as LOAD_AND_NAME loads what it reads (the file is
#: removed once opened: it goes whatever the load does).
LOAD_STAGED = 'exec <"$2" || exit 1\nrm -f -- "$2" "$2.part"\n' + LOAD_AND_NAME


class StagedImage:
    """The registry image streamed to a file on the host (STAGED_IMAGE) while dockerd restarts, before the
    deploy knows whether it needs it: only under `--yes`, where the deploy was confirmed in advance. The
    deploy loads it from there (and the file goes), or, when it turns out not to need it, removes it; the
    run removes it in every other outcome too (``discard``)."""

    def __init__(self, path: str = STAGED_IMAGE) -> None:
        self.path = path
        self._task: asyncio.Task[bool] | None = None
        self._run: UploadRun | None = None  # the streaming under way (its stop ends it between two chunks)
        self._on_host = False  # a file (whole or part) may be on the host

    def start(self, transport: Transport, source: ImageSource, emit: ScopedEmitter | None, probe: HubProbe) -> None:
        """Start streaming (``source.kind`` auto: as upload_while_probing races the Docker Hub probe)."""
        if self._task is not None or source.kind not in ("auto", "upload"):
            return
        self._on_host = True

        async def stage(run: UploadRun) -> bool:
            self._run = run
            return await upload_image(transport, source, emit, run=run, command=shell(STAGE, self.path))

        async def staged() -> bool:
            if source.kind == "upload":
                return await stage(UploadRun())
            probe.start(transport, source, emit)
            return await upload_while_probing(probe.reachable(transport, source, emit), stage, emit,
                                              source.probe_url, source.probe_seconds)

        self._task = asyncio.ensure_future(staged())

    @property
    def started(self) -> bool:
        return self._task is not None

    async def outcome(self) -> bool | None:
        """True: the whole image is in the file; False: the host reaches Docker Hub (it is to pull);
        None: the staging failed (the deploy gets the image its usual way)."""
        if self._task is None:
            return None
        try:
            return await asyncio.shield(self._task)
        except TransportError:
            return None

    async def load(self, transport: Transport, source: ImageSource, emit: ScopedEmitter | None) -> None:
        """Load the staged file into the host's docker, under the name the registry runs; the file goes."""
        self._on_host = False  # the command removes it first thing
        result = await transport.run(shell(LOAD_STAGED, source.image, self.path), sudo=True, emit=emit,
                                     timeout=3600)
        if not result.ok:
            raise ImageUnavailable(_("{command} on the host failed: {error}").format(
                command="docker load" if result.exit_status != TAG_FAILED else f"docker tag … {source.image}",
                error=result.stderr.strip()[-300:]))

    async def discard(self, transport: Transport, emit: ScopedEmitter | None, why: str) -> None:
        """Stop a staging still under way and remove its file, saying ``why`` (nothing when none is there)."""
        if self._task is not None and not self._task.done():
            if self._run is not None:
                self._run.stop.set()  # the host's `cat` sees its input end, and exits: nothing writes after
            else:
                self._task.cancel()  # still waiting to start: nothing was sent
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if not self._on_host:
            return
        self._on_host = False
        try:
            removed = (await transport.run(Command("rm", "-f", "--", self.path, self.path + ".part"), sudo=True,
                                           emit=emit)).ok
        except TransportError:  # the connection is gone: say so rather than hide the run's own outcome
            removed = False
        if emit is not None:
            if removed:
                emit.info(why)
            else:
                emit.warning(_("{path} could not be removed: remove it by hand").format(path=self.path))


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
                       progress: Progress | None = None, probe: HubProbe | None = None,
                       missing: bool = False, staged: StagedImage | None = None) -> str:
    """Make ``source.image`` present on the host; return how it got there (``missing``: the caller's
    plan found it missing: it is not asked again; were it loaded meanwhile, getting it again does no harm)."""
    if not missing and await host_has_image(transport, source.image):
        if staged is not None:
            await staged.discard(transport, emit, _("the host has {image} already: the image staged in {path} "
                                                    "was not needed, removed").format(image=source.image,
                                                                                      path=staged.path))
        return _("already on the host")
    kind = source.kind
    if staged is not None and staged.started:
        outcome = await staged.outcome()
        if outcome:
            await staged.load(transport, source, emit)
            return _("uploaded from this machine (staged on the host while dockerd restarted)")
        await staged.discard(transport, emit, _("the image staged in {path} was not needed: removed").format(
            path=staged.path) if outcome is False else _("staging the image failed: {path} removed; getting "
                                                         "the image as usual").format(path=staged.path))
        if outcome is False:
            kind = "pull"
    if kind == "auto":
        probe = probe or HubProbe()
        probe.start(transport, source, emit)
        if probe.pending:
            if await upload_while_probing(probe.reachable(transport, source, emit),
                                          lambda run: upload_image(transport, source, emit, progress, run),
                                          emit, source.probe_url, source.probe_seconds):
                return _("uploaded from this machine")
            kind = "pull"
        else:
            reachable = await probe.reachable(transport, source, emit)
            if emit is not None:
                emit.info(_("the host reaches Docker Hub: it will pull") if reachable else
                          _("the host does not reach {url} within {seconds:g} s: uploading the image from this "
                            "machine instead").format(url=source.probe_url, seconds=source.probe_seconds))
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
