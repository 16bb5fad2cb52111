"""The testbed's inotify headroom check (tests/testbed/hosts.py): pure figures, then this machine's /proc."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from tests.testbed import hosts
from tests.testbed.hosts import (
    FLAVOURS, INOTIFY_BOOT_PEAK, INOTIFY_PER_HOST, InotifyHeadroom, InotifyHeadroomError, Testbed,
    count_inotify_instances, death_report, headroom_problem, inotify_headroom, inotify_limit, inotify_needed,
)

ALL_INITS = [f.init for f in FLAVOURS.values()]


def test_needed_is_per_host_plus_one_boot_peak_for_systemd() -> None:
    assert inotify_needed([]) == 0
    assert inotify_needed(["sysv"]) == INOTIFY_PER_HOST["sysv"] == 1
    assert inotify_needed(["systemd"]) == INOTIFY_PER_HOST["systemd"] + INOTIFY_BOOT_PEAK == 18
    # the seven flavours: five systemd, two sysv (measured together: peak 51)
    assert ALL_INITS.count("systemd") == 5 and ALL_INITS.count("sysv") == 2
    assert inotify_needed(ALL_INITS) == 5 * 10 + 2 * 1 + 8 == 60 >= 51


def test_hosts_that_fit_are_not_refused() -> None:
    assert headroom_problem(used=0, limit=128, needed=60) is None
    assert headroom_problem(used=68, limit=128, needed=60) is None  # exactly full is still room
    assert headroom_problem(used=500, limit=1024, needed=60) is None
    assert headroom_problem(used=10, limit=None, needed=60) is None  # no limit file: nothing to check
    assert headroom_problem(used=200, limit=128, needed=0) is None  # starting nothing


def test_the_issues_busy_machine_is_refused_with_the_figures_and_the_fix() -> None:
    # limit 128; four unrelated systemd containers (7 each) and another test
    # run's seven flavours (5 x 7) already up: 63 used; a whole testbed needs 60
    problem = headroom_problem(used=63 + 14, limit=128, needed=60, uid=0, what="7 testbed hosts")
    assert problem is not None
    for part in ("7 testbed hosts", "need about 60", "uid 0", "uses 77", "max_user_instances = 128",
                 "51 left", "the container exited", "sysctl -w fs.inotify.max_user_instances=1024"):
        assert part in problem, (part, problem)


def test_a_count_that_missed_processes_says_at_least() -> None:
    problem = headroom_problem(used=120, limit=128, needed=18, unreadable=3)
    assert problem is not None and "at least 120" in problem
    summary = InotifyHeadroom(uid=0, used=120, unreadable=3, limit=128, needed=18).summary()
    assert "at least 120 used" in summary and "128" in summary and "18 needed" in summary


def test_count_reads_inotify_links_of_the_uids_processes(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid, links in {"10": ["anon_inode:inotify", "anon_inode:inotify", "/dev/null"],
                       "11": ["anon_inode:[eventpoll]", "anon_inode:inotify"],
                       "12": []}.items():
        (proc / pid / "fd").mkdir(parents=True)
        for n, target in enumerate(links):
            os.symlink(target, proc / pid / "fd" / str(n))
    (proc / "self").mkdir()  # not a pid
    (proc / "uptime").write_text("1 1\n")
    me = os.stat(proc).st_uid
    assert count_inotify_instances(me, proc) == (3, 0)
    assert count_inotify_instances(me + 1, proc) == (0, 0)  # another user's processes are not counted
    assert count_inotify_instances(me, tmp_path / "missing") == (0, 0)


def test_limit_is_read_from_the_sysctl_file(tmp_path: Path) -> None:
    (tmp_path / "limit").write_text("128\n")
    assert inotify_limit(tmp_path / "limit") == 128
    assert inotify_limit(tmp_path / "missing") is None


def _inotify_init() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        pytest.fail(f"inotify_init1: {os.strerror(ctypes.get_errno())}")
    return fd


def test_count_sees_this_process_instances_in_the_real_proc(tmp_path: Path) -> None:
    # A /proc of one entry, this process's real one: other processes of the
    # same user open and close instances meanwhile (other test runs' hosts).
    only_me = tmp_path / "proc"
    only_me.mkdir()
    os.symlink(f"/proc/{os.getpid()}", only_me / str(os.getpid()))
    before, unreadable = count_inotify_instances(os.getuid(), only_me)
    assert unreadable == 0
    fds = [_inotify_init() for _ in range(3)]
    try:
        assert count_inotify_instances(os.getuid(), only_me) == (before + 3, 0)
        # ... and the whole real /proc counts them too, with the real limit
        used, _ = count_inotify_instances(os.getuid())
        assert used >= before + 3
    finally:
        for fd in fds:
            os.close(fd)
    assert count_inotify_instances(os.getuid(), only_me) == (before, 0)
    limit = inotify_limit()
    assert limit == int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    headroom = inotify_headroom(["systemd"])
    assert headroom.limit == limit and headroom.needed == 18 and headroom.used >= 0
    if os.getuid() == 0:
        assert headroom.unreadable == 0  # root reads every process's fds


def test_start_refuses_before_creating_any_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosts, "containers_uid", lambda: 0)
    monkeypatch.setattr(hosts, "count_inotify_instances", lambda uid: (110, 0))
    monkeypatch.setattr(hosts, "inotify_limit", lambda: 128)
    created: list[tuple[str, ...]] = []
    monkeypatch.setattr(hosts, "docker", lambda *args, **kw: created.append(args))
    bed = Testbed(tmp_path)
    with pytest.raises(InotifyHeadroomError) as raised:
        bed.start("ecs", "sysv_client")
    assert "2 testbed hosts" in str(raised.value) and "need about 19" in str(raised.value)
    assert "uses 110" in str(raised.value) and "= 128" in str(raised.value)
    assert created == [] and bed.hosts == []
    assert hosts.check_inotify_headroom(["sysv"]).needed == 1  # 110 + 1: a sysv host still fits


class _Proc:
    def __init__(self, stdout: str = "", stderr: str = "") -> None:
        self.stdout, self.stderr, self.returncode = stdout, stderr, 0


def _fake_dead_container(monkeypatch: pytest.MonkeyPatch, log: str, used: int) -> None:
    monkeypatch.setattr(hosts, "docker_json", lambda *args: {"Status": "exited", "ExitCode": 255,
                                                            "OOMKilled": False, "Error": ""})
    monkeypatch.setattr(hosts, "docker", lambda *args, **kw: _Proc(stderr=log))
    monkeypatch.setattr(hosts, "containers_uid", lambda: 0)
    monkeypatch.setattr(hosts, "count_inotify_instances", lambda uid: (used, 0))
    monkeypatch.setattr(hosts, "inotify_limit", lambda: 128)


def test_a_host_that_died_for_want_of_inotify_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    log = "systemd 252 running in system mode\nFailed to allocate manager object: Too many open files\n"
    _fake_dead_container(monkeypatch, log, used=120)
    report = death_report("ecs", "regwiz-testbed-1-ecs-1", "systemd")
    assert "testbed host ecs: the container exited during boot" in report
    assert "exit code 255" in report
    assert "the inotify headroom is exhausted" in report and "uses 120" in report
    assert "sysctl -w fs.inotify.max_user_instances=1024" in report
    assert report.endswith("Failed to allocate manager object: Too many open files")


def test_a_host_that_died_otherwise_gives_its_exit_code_and_log(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dead_container(monkeypatch, "testbed-init: unknown flavour nope\n", used=20)
    report = death_report("bare", "c", "systemd")
    assert "exit code 255" in report and "testbed-init: unknown flavour nope" in report
    assert "exhausted" not in report and "20 used of fs.inotify.max_user_instances = 128" in report


def test_a_systemd_host_that_booted_without_inotify_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen here with 3 instances left: systemd boots on, "degraded", units missing.
    host = hosts.TestHost(FLAVOURS["ecs"], "c", "10.0.0.2", hosts.ClientKey(tmp_path / "k", "ssh-ed25519 A"), "pw")
    journal = "Dec 01 11:11:30 ecs systemd[1]: Failed to create inotify object: Too many open files\n"
    monkeypatch.setattr(host, "sh", lambda script, check=True, timeout=120: _Proc(stdout=journal))
    monkeypatch.setattr(hosts, "inotify_headroom",
                        lambda inits, image=None: InotifyHeadroom(uid=0, used=125, unreadable=0, limit=128, needed=18))
    with pytest.raises(hosts.HostDied) as raised:
        host._check_inotify_at_boot()
    message = str(raised.value)
    assert "booted degraded" in message and "inotify headroom is exhausted" in message
    assert "125 used of fs.inotify.max_user_instances = 128" in message and journal.strip() in message
    monkeypatch.setattr(host, "sh", lambda script, check=True, timeout=120: _Proc(stdout=""))
    host._check_inotify_at_boot()  # degraded for another reason (ecs_conflict's docker): not this


def test_a_count_made_in_a_container_matches_the_local_one(testbed: Testbed) -> None:
    # What a user of the docker group who cannot read root's /proc relies on.
    assert testbed.images is not None
    fds = [_inotify_init() for _ in range(200)]
    try:
        local, _ = count_inotify_instances(os.getuid())
        counted = hosts.count_inotify_instances_via_docker(os.getuid(), testbed.images.host)
    finally:
        for fd in fds:
            os.close(fd)
    assert counted is not None and counted >= 200
    assert abs(counted - local) < 40  # other runs' hosts boot and stop meanwhile
