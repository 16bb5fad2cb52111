"""The image's race in `auto`: the upload starts while the Docker Hub probe has not answered, and stops
(the host pulls instead) only when the probe says "reachable" while less than half is sent.

The probe's answer is a future the test sets (the probe's result, faked); the upload is real: chunks
streamed through LocalTransport into `cat`, which sees its input end when the upload stops."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import pytest

from app.events import EventBus, MemorySink
from app.registry.image import (
    HubProbe,
    ImageSource,
    ImageUnavailable,
    UploadRun,
    stoppable,
    upload_while_probing,
)
from app.transport import TransportError, shell
from app.transport.local import LocalTransport

CHUNK = b"x" * 4096
CHUNKS = 10


def emitter() -> tuple[MemorySink, object]:
    bus = EventBus()
    sink = MemorySink()
    bus.subscribe(sink)
    return sink, bus.scoped(source="deploy")


def fake_upload(target: Path, answer: "asyncio.Future[bool] | None" = None, answer_at: int = -1,
                value: bool = True, fail: Exception | None = None):  # type: ignore[no-untyped-def]
    """An upload of CHUNKS chunks into ``target`` by `cat` on this machine; after chunk ``answer_at`` the
    probe's answer (``value``) arrives. True when `cat` got everything, False when the upload stopped."""

    async def upload(run: UploadRun) -> bool:
        if fail is not None:
            raise fail
        run.total = len(CHUNK) * CHUNKS

        async def chunks() -> AsyncIterator[bytes]:
            for index in range(CHUNKS):
                yield CHUNK
                if index == answer_at and answer is not None:
                    answer.set_result(value)
                await asyncio.sleep(0.02)  # the race's decision runs between two chunks

        result = await LocalTransport().run(shell('cat > "$1"', str(target)), stdin=stoppable(chunks(), run))
        assert result.ok  # `cat` saw its input end, and exited
        return not run.stopped

    return upload


async def race(upload, probe: "asyncio.Future[bool]") -> tuple[bool, list[str]]:  # type: ignore[no-untyped-def]
    sink, emit = emitter()
    uploaded = await upload_while_probing(probe, upload, emit, "https://hub.invalid/v2/", 4)  # type: ignore[arg-type]
    return uploaded, sink.lines()


async def test_probe_without_answer_the_upload_finishes_and_the_probe_is_stopped(tmp_path: Path) -> None:
    probe: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    uploaded, lines = await race(fake_upload(tmp_path / "image"), probe)
    assert uploaded and (tmp_path / "image").stat().st_size == len(CHUNK) * CHUNKS
    assert probe.cancelled()  # nothing waits for it any more
    assert lines[0] == "the host has not reached Docker Hub yet: uploading the image from this machine meanwhile"


async def test_probe_unreachable_during_the_upload_finishes_it(tmp_path: Path) -> None:
    probe: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    uploaded, lines = await race(fake_upload(tmp_path / "image", probe, answer_at=1, value=False), probe)
    assert uploaded and (tmp_path / "image").stat().st_size == len(CHUNK) * CHUNKS
    assert "the host does not reach https://hub.invalid/v2/ within 4 s: finishing the upload" in lines


async def test_probe_reachable_with_less_than_half_sent_stops_the_upload(tmp_path: Path) -> None:
    probe: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    uploaded, lines = await race(fake_upload(tmp_path / "image", probe, answer_at=1, value=True), probe)
    assert not uploaded  # the host pulls
    sent = (tmp_path / "image").stat().st_size
    assert len(CHUNK) * 2 <= sent < len(CHUNK) * CHUNKS / 2, sent  # cut between two chunks, before half
    assert "the host reaches Docker Hub (20 % of the image sent): stopping the upload, pulling instead" in lines


async def test_probe_reachable_with_half_sent_finishes_the_upload(tmp_path: Path) -> None:
    probe: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    uploaded, lines = await race(fake_upload(tmp_path / "image", probe, answer_at=5, value=True), probe)
    assert uploaded and (tmp_path / "image").stat().st_size == len(CHUNK) * CHUNKS
    assert "the host reaches Docker Hub, but 60 % of the image is sent: finishing the upload" in lines


async def test_probe_that_fails_counts_as_unreachable(tmp_path: Path) -> None:
    probe: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    probe.set_exception(TransportError("the connection to h was lost"))
    uploaded, lines = await race(fake_upload(tmp_path / "image"), probe)
    assert uploaded and "finishing the upload" in lines[-1]


async def test_upload_that_fails_pulls_when_the_host_reaches_docker_hub(tmp_path: Path) -> None:
    failure = ImageUnavailable("this machine has no image registry:2 to upload")
    probe: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.05, probe.set_result, True)
    uploaded, lines = await race(fake_upload(tmp_path / "image", fail=failure), probe)
    assert not uploaded
    assert lines[-1] == ("the upload failed (this machine has no image registry:2 to upload); the host reaches "
                         "Docker Hub: pulling instead")


async def test_upload_that_fails_raises_when_the_host_does_not_reach_docker_hub(tmp_path: Path) -> None:
    failure = ImageUnavailable("this machine has no image registry:2 to upload")
    probe: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.05, probe.set_result, False)
    with pytest.raises(ImageUnavailable, match="no image registry:2"):
        await race(fake_upload(tmp_path / "image", fail=failure), probe)


async def test_stoppable_closes_its_source_when_stopped() -> None:
    closed: list[bool] = []

    async def source() -> AsyncIterator[bytes]:
        try:
            for _index in range(5):
                yield CHUNK
        finally:
            closed.append(True)

    run = UploadRun(total=5 * len(CHUNK))
    got = []
    async for chunk in stoppable(source(), run):
        got.append(chunk)
        run.stop.set()
    assert len(got) == 1 and run.stopped and run.sent == len(CHUNK) and closed == [True]


async def test_hub_probe_pending_until_curl_answers() -> None:
    """The real probe (curl on this machine): pending while a server accepts and says nothing, answered
    (reachable) once an HTTP answer comes."""
    release = asyncio.Event()

    async def answer_late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await release.wait()
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_late, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        probe = HubProbe()
        assert not probe.pending  # not started
        transport = LocalTransport()
        source = ImageSource(probe_url=f"http://127.0.0.1:{port}/v2/", probe_seconds=20)
        probe.start(transport, source, None)
        await asyncio.sleep(0.3)
        assert probe.pending
        release.set()
        assert await probe.reachable(transport, source, None)
        assert not probe.pending
