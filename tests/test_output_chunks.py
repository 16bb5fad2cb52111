"""A command's output, read in chunks: split once per chunk, marked plain where it is, redacted exactly.

app.transport.base reads a command's output in chunks of up to CHUNK_SIZE bytes, split where they happen
to end (inside a line, a character or a secret). LineSplitter turns them into whole lines and marks a chunk
of printable ASCII as PlainLines, which the live log then takes without checking each line; the event bus
redacts each batch. Whatever the chunking, the lines, their order and the redaction must be those of the
whole output read at once.
"""

from __future__ import annotations

import random
from typing import Awaitable, Callable, Sequence

from app.events import EventBus, EventKind, MemorySink, PlainLines
from app.redact import REDACTED
from app.transport import Command, CommandFailed, shell
from app.transport.base import LineSplitter, pump
from app.transport.local import LocalTransport


def _reader(chunks: list[bytes]) -> Callable[[int], Awaitable[bytes]]:
    """What asyncssh's (and asyncio's) read(n) gives: these chunks, then b"" at the end of the output."""
    pending = list(chunks)

    async def read(size: int) -> bytes:
        return pending.pop(0) if pending else b""

    return read


def _pieces(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    edges = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _expected(data: bytes) -> list[str]:
    """The whole output decoded and split at once, a carriage return before each newline dropped."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _split(chunks: list[bytes]) -> tuple[list[str], list[Sequence[str]]]:
    splitter = LineSplitter()
    batches = [splitter.feed(chunk) for chunk in chunks] + [splitter.flush()]
    return [line for batch in batches for line in batch], batches


def _plain(line: str) -> bool:
    return line.isascii() and line.isprintable()


async def _pumped(chunks: list[bytes], bus: EventBus) -> list[str]:
    memory = MemorySink()
    bus.subscribe(memory)
    emit = bus.scoped(source="diagnose.x", host="h")
    await pump(_reader(chunks), "stdout", lambda stream, lines: emit(EventKind.STDOUT, lines), None)
    return memory.lines(EventKind.STDOUT)


async def test_a_secret_split_across_two_chunks_is_still_redacted() -> None:
    secret = "hunter2-registry-pw"
    data = f"login as admin\npassword is {secret} here\nand {secret}\ndone\n".encode()
    start = data.index(secret.encode())
    for cut in range(start + 1, start + len(secret)):  # every place inside the secret
        bus = EventBus()
        bus.redactor.add(secret)
        lines = await _pumped(_pieces(data, [cut]), bus)
        assert lines == ["login as admin", f"password is {REDACTED} here", f"and {REDACTED}", "done"]
        assert not any(secret[:4] in line for line in lines)


async def test_a_redacted_plain_batch_stays_plain_and_keeps_its_lines() -> None:
    bus = EventBus()
    bus.redactor.add("s3cret-pw")
    memory = MemorySink()
    bus.subscribe(memory)
    bus.emit(EventKind.STDOUT, PlainLines(["a s3cret-pw b", "", "s3cret-pws3cret-pw"]), source="s")
    bus.emit(EventKind.STDOUT, PlainLines(["nothing here"]), source="s")
    first, second = memory.events
    assert type(first.lines) is PlainLines and type(second.lines) is PlainLines
    assert list(first.lines) == [f"a {REDACTED} b", "", REDACTED * 2]
    assert first.render_lines() == first.lines and list(second.render_lines()) == ["nothing here"]
    assert first.lines.joined == "\n".join(first.lines)  # (its text redacted with it)


def test_plain_batches_are_redacted_from_their_text_as_line_by_line() -> None:
    """A plain batch is searched and masked in the chunk's text the splitter kept (PlainLines.joined), not
    joined again: every line comes out as masking it alone would, and a secret holding a newline never
    matches across two lines."""
    rng = random.Random(7)
    secrets = ["s3cret", "s3cret-longer", "pw\nsplit", "tail!"]
    words = ["s3cret", "s3cret-longer", "pw", "split", "tail!", "plain", "", "s3cre", "t"]
    for _ in range(300):
        bus = EventBus()
        for secret in secrets:
            bus.redactor.add(secret)
        memory = MemorySink()
        bus.subscribe(memory)
        lines = [" ".join(rng.choice(words) for _ in range(rng.randrange(0, 5))) for _ in range(rng.randrange(1, 8))]
        data = ("\n".join(lines) + "\n").encode()
        batch = LineSplitter().feed(data)
        assert type(batch) is PlainLines
        bus.emit(EventKind.STDOUT, batch, source="s")
        event, = memory.events
        assert list(event.lines) == [bus.redactor(line) for line in lines], lines
        assert type(event.lines) is PlainLines and event.lines.joined == "\n".join(event.lines)


def test_a_line_longer_than_a_chunk_comes_whole_once_its_newline_arrives() -> None:
    long_line = "x" * 10_000
    data = f"short\n{long_line}\nlast\n".encode()
    chunks = _pieces(data, range(1000, len(data), 1000))
    lines, batches = _split(chunks)
    assert lines == ["short", long_line, "last"]
    assert all(type(batch) is PlainLines for batch in batches if batch)


def test_output_without_a_trailing_newline_keeps_its_last_line() -> None:
    lines, batches = _split([b"one\ntw", b"o\nthree"])
    assert lines == ["one", "two", "three"]
    assert batches[-1] == ["three"]  # from flush(), at the end of the output


def test_crlf_output_loses_only_the_carriage_returns_even_split_between_chunks() -> None:
    lines, batches = _split([b"one\r\ntwo\r", b"\nthree\r\n", b"progress 10%\rprogress 20%\r\n"])
    assert lines == ["one", "two", "three", "progress 10%\rprogress 20%"]
    assert not any(type(batch) is PlainLines for batch in batches)  # a carriage return is not plain


def test_only_printable_ascii_is_marked_plain() -> None:
    cases = {
        b"plain line\nanother one\n": True,
        b"a\ttab\n": False,
        b"caf\xc3\xa9\n": False,
        b"esc \x1b[31mred\n": False,
        b"form\x0cfeed\n": False,
        b"del\x7f\n": False,
        b"\n\nempty lines are plain\n": True,
    }
    for data, plain in cases.items():
        _, batches = _split([data])
        assert (type(batches[0]) is PlainLines) is plain, data
    # A tail that was not plain is not plain once its newline comes in a plain chunk.
    _, batches = _split([b"h\xc3\xa9llo", b" world\nnext\n"])
    assert list(batches[1]) == ["héllo world", "next"] and type(batches[1]) is not PlainLines
    # A character cut in two by the chunks: decoded whole, not marked.
    _, batches = _split([b"caf\xc3", b"\xa9\nplain\n", b"again\n"])
    assert list(batches[1]) == ["café", "plain"] and type(batches[1]) is not PlainLines
    assert type(batches[2]) is PlainLines


def test_any_chunking_gives_the_lines_of_the_whole_output() -> None:
    rng = random.Random(16)
    pieces = [b"plain output line", b"", b"caf\xc3\xa9 \xe9\x95\x9c\xe5\x83\x8f", b"tab\there", b"crlf\r",
              b"x" * 300, b"cr\rinside", b"\xff broken utf-8"]
    for _ in range(200):
        data = b"\n".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        if rng.random() < 0.7:
            data += b"\n"
        cuts = rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(0, 12))) if len(data) > 1 else []
        lines, batches = _split(_pieces(data, cuts))
        assert lines == _expected(data), data
        for batch in batches:
            if type(batch) is PlainLines:
                assert all(_plain(line) for line in batch), batch
                assert batch.joined == "\n".join(batch), batch  # the text the log file and the redactor read


async def test_the_kept_output_of_any_chunking_is_the_whole_outputs_lines_joined() -> None:
    """pump keeps text pieces (a batch's lines joined), not every line: joined, they are the output's lines."""
    rng = random.Random(17)
    pieces = [b"plain output line", b"", b"caf\xc3\xa9", b"tab\there", b"crlf\r", b"x" * 300, b"\xff broken"]
    for _ in range(200):
        data = b"\n".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        if rng.random() < 0.7:
            data += b"\n"
        cuts = rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(0, 12))) if len(data) > 1 else []
        kept: list[str] = []
        batches: list[Sequence[str]] = []
        await pump(_reader(_pieces(data, cuts)), "stdout", lambda stream, lines, into=batches: into.append(lines), kept)
        assert "\n".join(kept) == "\n".join(_expected(data)), data
        assert len(kept) == len(batches) and [line for batch in batches for line in batch] == _expected(data)


async def test_stream_lines_keeps_order_a_last_line_without_newline_and_the_exit_status() -> None:
    async with LocalTransport() as t:
        lines = [line async for line in t.stream_lines(shell("seq 1 30000; printf 'no newline'"))]
        assert lines == [str(i) for i in range(1, 30001)] + ["no newline"]
        seen: list[str] = []
        try:
            async for line in t.stream_lines(shell("printf 'a\\r\\nb\\r\\n'; exit 3")):
                seen.append(line)
        except CommandFailed as failed:
            assert failed.result.exit_status == 3
        else:
            raise AssertionError("the exit status 3 was not raised")
        assert seen == ["a", "b"]
        result = await t.run(Command("printf", "x\\ny"))
        assert result.stdout == "x\ny"


async def test_a_commands_output_over_ssh_comes_whole_per_stream_with_its_input_read(  # type: ignore[no-untyped-def]
        fresh_host, tmp_path) -> None:
    """SSHTransport hands asyncssh's packets straight to the splitter (no stream reader): stdout and stderr,
    interleaved, each keep their lines in order, the input is read, and a last line without newline comes."""
    from tests.sshutil import by_key

    host = fresh_host("linux_client")
    bus = EventBus()
    memory = MemorySink()
    bus.subscribe(memory)
    emit = bus.scoped(source="diagnose.x", host=host.address)
    script = ('i=0; while [ $i -lt 3000 ]; do echo "out $i line"; echo "err $i" >&2; i=$((i+1)); done; '
              'cat; printf "no newline"')
    async with by_key(host, "root", tmp_path) as transport:
        result = await transport.run(shell(script), stdin=b"from stdin\n", emit=emit)
        quiet = await transport.run(Command("true"), emit=emit)
    out = [f"out {i} line" for i in range(3000)] + ["from stdin", "no newline"]
    assert result.ok and quiet.ok and quiet.stdout == ""
    assert result.stdout.split("\n") == out and memory.lines(EventKind.STDOUT) == out
    assert result.stderr.split("\n") == [f"err {i}" for i in range(3000)] == memory.lines(EventKind.STDERR)
