"""RemoteFiles in few commands, on this machine (the user's own files: no sudo), every protection kept.

One command backs a file up and replaces it atomically; one command reads a step's files; a file not as
planned is refused before anything changes; a write cut off before its copy is rolled back (and checked)
by the file's digest. The same scripts run on real hosts in test_faults_testbed.py and the step tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.events import EventBus
from app.remote_files import Backup, FileChange, FileNotAsPlanned, RemoteFiles, sha256_text
from app.steps import Outcome, Plan, Step, StepContext, files_restored, run_step
from app.transport import CommandFailed, Transport
from app.transport.local import LocalTransport


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # the user's own backups go to the test's folder
    return tmp_path


def counting(transport: Transport) -> list[str]:
    """The command lines the transport runs from now on."""
    lines: list[str] = []
    original = transport._execute

    async def execute(line, *args, **kwargs):  # type: ignore[no-untyped-def]
        lines.append(line)
        return await original(line, *args, **kwargs)

    transport._execute = execute  # type: ignore[method-assign]
    return lines


async def test_a_write_backs_up_keeps_the_mode_and_replaces_in_one_command(home: Path) -> None:
    target = home / "conf.d" / "app.conf"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o640)
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        await files._user_backup_root()  # once per RemoteFiles: not a command of each write
        lines = counting(t)
        backup = await files.write(FileChange(str(target), "old\n", "new\n"))
        fresh = await files.write(FileChange(str(home / "new" / "dir" / "x.conf"), None, "x\n", mode=0o600))
    assert len(lines) == 2, lines
    assert target.read_text() == "new\n" and oct(target.stat().st_mode & 0o777) == "0o640"
    assert backup.backup_path is not None and Path(backup.backup_path).read_text() == "old\n"
    assert oct(Path(backup.backup_path).stat().st_mode & 0o777) == "0o640"
    assert fresh.backup_path is None
    assert (home / "new" / "dir" / "x.conf").read_text() == "x\n"
    assert oct((home / "new" / "dir" / "x.conf").stat().st_mode & 0o777) == "0o600"
    assert not list(target.parent.glob("*.regwiz-tmp.*"))


@pytest.mark.parametrize("exists, planned_old", [(True, None), (False, "old\n")])
async def test_a_file_not_as_planned_is_refused_before_any_change(home: Path, exists: bool,
                                                                 planned_old: str | None) -> None:
    target = home / "app.conf"
    if exists:
        target.write_text("someone else's\n")
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        with pytest.raises(CommandFailed) as refused:
            await files.write(FileChange(str(target), planned_old, "new\n"))
    assert refused.value.result.exit_status == 5
    assert files.backups == []  # nothing to restore: nothing was changed
    if exists:
        assert target.read_text() == "someone else's\n"
    else:
        assert not target.exists()


async def test_a_removal_is_backed_up_in_the_same_command(home: Path) -> None:
    target = home / "gone.conf"
    target.write_text("old\n")
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        await files._user_backup_root()
        lines = counting(t)
        backup = await files.write(FileChange(str(target), "old\n", None))
        assert len(lines) == 1 and not target.exists()
        await files.restore_all()
    assert target.read_text() == "old\n" and backup.backup_path is not None


async def test_prefetched_reads_are_one_command_and_answer_once(home: Path) -> None:
    (home / "a").write_text("first\n")
    (home / "empty").write_text("")
    (home / "bin").write_bytes(b"\x00\xff\n\n")
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        lines = counting(t)
        async with files.prefetched([str(home / n) for n in ("a", "empty", "missing", "bin")]):
            assert await files.read(str(home / "a")) == "first\n"
            assert await files.read(str(home / "empty")) == ""
            assert await files.read(str(home / "missing")) is None
            assert await files.read_bytes(str(home / "bin")) == b"\x00\xff\n\n"
            assert len(lines) == 1, lines
            (home / "a").write_text("changed\n")
            assert await files.read(str(home / "a")) == "changed\n"  # answered once: read again
        assert len(lines) == 2
        assert await files.read(str(home / "empty")) == ""  # after the block: the host is asked
        assert len(lines) == 3


@pytest.mark.parametrize("changed", [False, True])
async def test_a_backup_never_made_is_restored_and_checked_by_the_digest(home: Path, changed: bool) -> None:
    """A write cut off before its copy left the file as it was: restore and its check say so, by digest."""
    target = home / "app.conf"
    target.write_text("new by someone\n" if changed else "old\n")
    change = FileChange(str(target), "old\n", "new\n")
    async with LocalTransport() as t:
        ctx = StepContext(t, EventBus().scoped(source="x"))
        ctx.files.sudo = False
        ctx.files.backups.append(Backup(str(target), str(home / "never-made"), sha256_text("old\n")))
        if changed:
            with pytest.raises(CommandFailed):
                await ctx.files.restore_all()
        else:
            await ctx.files.restore_all()
        left = await files_restored(ctx, Plan("x", changes=[change]))
    assert (left is not None and f"differs: {target}" in left) if changed else left is None
    assert target.read_text() == ("new by someone\n" if changed else "old\n")


async def test_a_file_changed_since_planned_is_refused_by_its_write(home: Path) -> None:
    target = home / "app.conf"
    target.write_text("changed meanwhile\n")
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        with pytest.raises(FileNotAsPlanned) as refused:
            await files.write(FileChange(str(target), "old\n", "new\n"))
    assert refused.value.path == str(target) and files.backups == []
    assert target.read_text() == "changed meanwhile\n"


class _OneFile(Step):
    """Writes its one file first (writes_first): the write itself checks the file is as planned."""

    title = "write one file"
    writes_first = True

    def __init__(self, path: Path, changed_meanwhile: str | None = None) -> None:
        self.path, self.changed_meanwhile = path, changed_meanwhile

    async def plan(self, ctx: StepContext) -> Plan:
        return Plan("write", changes=[FileChange(str(self.path), self.path.read_text(), "new\n")], files_sudo=False)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            await ctx.files.write(change)

    async def verify(self, ctx: StepContext) -> str | None:
        return None


async def _confirm_then(step: _OneFile, plan: Plan) -> bool:
    if step.changed_meanwhile is not None:
        step.path.write_text(step.changed_meanwhile)
    return True


@pytest.mark.parametrize("meanwhile", [None, "someone else's\n"])
async def test_a_one_file_step_checks_its_file_in_the_write_command(home: Path, meanwhile: str | None) -> None:
    target = home / "app.conf"
    target.write_text("old\n")
    step = _OneFile(target, meanwhile)
    async with LocalTransport() as t:
        lines = counting(t)
        result = await run_step(step, StepContext(t, EventBus().scoped(source="x")),
                                lambda plan: _confirm_then(step, plan))
    assert not any("while [ $# -ge 2 ]" in line for line in lines)  # no separate digest check
    if meanwhile is None:
        assert result.outcome is Outcome.APPLIED and target.read_text() == "new\n"
    else:
        assert result.outcome is Outcome.REFUSED and result.stale, result.message
        assert f"{target} changed on" in result.message and "plan again" in result.message
        assert target.read_text() == meanwhile


async def test_write_all_writes_every_file_in_one_command(home: Path) -> None:
    """The folders, then each file backed up and replaced, in one command; each text through its own base64
    line (a text without a final newline, one with a line of its own that looks like base64, and UTF-8)."""
    existing = home / "etc" / "old.conf"
    existing.parent.mkdir()
    existing.write_text("old\n")
    existing.chmod(0o640)
    texts = {existing: "new, no final newline", home / "etc" / "sub" / "a.key": "QUJD\n-----\nend\n",
             home / "etc" / "b.txt": "镜像仓库\n"}
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        await files._user_backup_root()
        lines = counting(t)
        backups = await files.write_all(
            [FileChange(str(existing), "old\n", texts[existing]),
             FileChange(str(home / "etc" / "same"), "x", "x"),  # changes nothing: not written
             FileChange(str(home / "etc" / "sub" / "a.key"), None, texts[home / "etc" / "sub" / "a.key"], mode=0o600),
             FileChange(str(home / "etc" / "b.txt"), None, texts[home / "etc" / "b.txt"])],
            prelude=f"mkdir -p {home / 'made'}")
    assert len(lines) == 1, lines
    assert (home / "made").is_dir()
    for path, text in texts.items():
        assert path.read_text() == text
    assert oct(existing.stat().st_mode & 0o777) == "0o640"
    assert oct((home / "etc" / "sub" / "a.key").stat().st_mode & 0o777) == "0o600"
    assert not (home / "etc" / "same").exists()
    assert [b.path for b in backups] == [str(existing), str(home / "etc" / "sub" / "a.key"), str(home / "etc" / "b.txt")]
    assert backups[0].backup_path is not None and Path(backups[0].backup_path).read_text() == "old\n"
    assert not list(home.rglob("*.regwiz-tmp.*"))


async def test_write_all_stops_at_a_file_not_as_planned_and_rolls_back(home: Path) -> None:
    first, second, third = home / "1.conf", home / "2.conf", home / "3.conf"
    second.write_text("changed by someone\n")
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        with pytest.raises(FileNotAsPlanned) as refused:
            await files.write_all([FileChange(str(first), None, "one\n"), FileChange(str(second), None, "two\n"),
                                   FileChange(str(third), None, "three\n")])
        assert refused.value.path == str(second)
        assert first.read_text() == "one\n" and second.read_text() == "changed by someone\n"
        assert not third.exists()
        assert [b.path for b in files.backups] == [str(first)]  # only what was written is rolled back
        await files.restore_all()
    assert not first.exists() and second.read_text() == "changed by someone\n"
