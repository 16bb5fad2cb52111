"""The image's race on a real host: in `auto` the upload starts while the Docker Hub probe has not answered,
and an upload stopped half-way leaves the host with no image, no temporary files and no process."""

from __future__ import annotations

import time
from pathlib import Path

from app.events import EventBus, EventKind, MemorySink
from app.registry.deploy import DeployRegistryStep
from app.registry.image import ImageSource, UploadRun, upload_image
from app.steps import Outcome, Plan, StepContext, run_step
from tests.registry_helpers import choices_for
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost

PROBE_SECONDS = 60  # far longer than a deploy: the deploy must not wait for it


def sink_of(bus: EventBus) -> MemorySink:
    sink = MemorySink()
    bus.subscribe(sink)
    return sink


async def test_upload_starts_while_the_probe_has_no_answer_and_the_registry_deploys(
        fresh_host, testbed: Testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs")
    host.exec("systemctl", "start", "docker")
    # "Docker Hub" that accepts the connection and never answers, as from mainland China.
    host.sh("nohup nc -l -p 8443 >/dev/null 2>&1 &")
    choices = choices_for(host, testbed)
    choices.image = ImageSource(kind="auto", local_image=testbed.images.registry,  # type: ignore[union-attr]
                                probe_url="https://127.0.0.1:8443/v2/", probe_seconds=PROBE_SECONDS)
    probe_bus, deploy_bus = EventBus(), EventBus()
    probe_log, deploy_log = sink_of(probe_bus), sink_of(deploy_bus)

    async def confirm(plan: Plan) -> bool:
        return True

    try:
        async with root_by_password(host, tmp_path) as t:
            probe_started = time.time()
            choices.hub_probe.start(t, choices.image, probe_bus.scoped(source="deploy"))  # as `setup` does
            emit = deploy_bus.scoped(source="deploy")
            result = await run_step(DeployRegistryStep(choices), StepContext(t, emit), confirm)
            choices.hub_probe.cancel()
    finally:
        host.exec("pkill", "-x", "nc", check=False)
    assert result.outcome is Outcome.APPLIED, result.message
    lines = deploy_log.lines()
    meanwhile = lines.index("the host has not reached Docker Hub yet: uploading the image from this machine "
                            "meanwhile")
    events = deploy_log.events
    load = next(i for i, e in enumerate(events) if e.kind is EventKind.COMMAND and "docker load" in e.lines[0])
    load_exit = next(e for e in events[load:] if e.kind is EventKind.EXIT)
    assert load_exit.lines[0].startswith("0 "), load_exit.lines
    # The log's order and times: the probe's command ran first, the upload began and ended well before the
    # probe's time-out, and the probe never answered (no exit in its log: it was stopped once not needed).
    probe_command = next(e for e in probe_log.events if e.kind is EventKind.COMMAND)
    assert "curl" in probe_command.lines[0]
    assert probe_started <= probe_command.at < events[load].at < load_exit.at < probe_started + PROBE_SECONDS
    assert not any(e.kind is EventKind.EXIT for e in probe_log.events), probe_log.lines()
    assert meanwhile < lines.index(next(line for line in lines if "docker load" in line))
    assert not any("finishing the upload" in line or "pulling instead" in line for line in lines)
    assert "registry:2: uploaded from this machine" in lines
    names = host.exec("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "registry:2" in names


async def test_stopped_upload_leaves_no_image_no_temporary_files_no_process(
        fresh_host, testbed: Testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What an interrupted `docker load` leaves (dockerd 20.10, the classic store: the tar is unpacked into
    a temporary folder under /var/lib/docker/tmp first and loaded only once whole): nothing."""
    host: TestHost = fresh_host("ecs")
    host.exec("systemctl", "start", "docker")
    before = host.exec("docker", "images", "-aq").stdout
    run = UploadRun()

    def progress(sent: int, total: int) -> None:
        if sent > 2_000_000:
            run.stop.set()

    source = ImageSource(local_image=testbed.images.registry)  # type: ignore[union-attr]
    bus = EventBus()
    log = sink_of(bus)
    async with root_by_password(host, tmp_path) as t:
        loaded = await upload_image(t, source, bus.scoped(source="deploy"), progress, run)
    assert not loaded and run.stopped
    assert 1_000_000 < run.sent < run.total / 2, (run.sent, run.total)  # the chunk read at 2 MB is not sent
    assert any(e.kind is EventKind.EXIT and not e.lines[0].startswith("0 ") for e in log.events)  # load failed
    assert host.exec("docker", "image", "inspect", "registry:2", check=False).returncode != 0
    assert host.exec("docker", "images", "-aq").stdout == before
    assert host.sh("ls -A /var/lib/docker/tmp").stdout.strip() == ""
    assert host.exec("pgrep", "-f", "docker load", check=False).returncode == 1


async def test_an_upload_cut_short_closes_its_docker_save(testbed: Testbed) -> None:
    """The upload's input closed after its first chunk (the probe said "pull instead", or the session died):
    `docker save` on this machine is killed and reaped, and closing its chunks returns. It used to wait for
    ever: asyncio wakes Process.wait() only once the pipes have closed, and the unread stdout never did
    (seen: a test run hung at the event loop's end, in shutdown_asyncgens)."""
    import asyncio
    import os  # pgrep for this process's own children: other runs on the machine may save images meanwhile

    from app.registry.image import docker_save

    sent: list[int] = []
    chunks = docker_save(testbed.images.registry, sent.append)  # type: ignore[union-attr]
    assert await chunks.__anext__()
    await asyncio.sleep(0.5)  # `docker save` meanwhile fills the pipe, and its reading pauses
    # A bound only to fail rather than hang: closing takes a few milliseconds when it works.
    await asyncio.wait_for(chunks.aclose(), 60)
    leftover = await asyncio.create_subprocess_exec("pgrep", "-P", str(os.getpid()), "-x", "docker")
    assert await leftover.wait() == 1, "the `docker save` is still running"
    assert len(sent) >= 1
