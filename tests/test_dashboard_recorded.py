"""The dashboard's daemon and route rows on recorded hosts: Docker's state (its version, whether the
daemon answers) is gathered once, by facts.docker_state, for both rows, and the route row predicts from
the state found rather than assuming a running daemon. The registry rows meet a closed loopback port."""

from __future__ import annotations

import socket

import pytest

from app import dashboard, facts
from app.events import EventBus
from app.profiles import Profile, ServerProfile
from app.steps import Status
from tests.test_plans_unit import ROUTES, SYSTEMD, RecordedHost


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_host(running: bool) -> RecordedHost:
    return RecordedHost({"/etc/resolv.conf": "nameserver 100.100.2.136\n"}, [
        SYSTEMD, ("command -v dockerd", 0, "Docker version 20.10.24+dfsg1, build 297e128"),
        ("docker version", 0 if running else 1, "20.10.24" if running else ""),
        ("systemctl is-enabled", 0, "enabled"), ("journalctl", 0, "-- No entries --"),
        ("ip -j -4 route", 0, ROUTES), ("ip -j -4 addr", 0, "[]"), ("docker network", 0, "[]"),
    ])


async def _rows(host: RecordedHost, monkeypatch: pytest.MonkeyPatch) -> dict[str, dashboard.HealthRow]:
    class Form:
        def transport(self) -> RecordedHost:
            return host

    monkeypatch.setattr(dashboard, "host_form_for", lambda *args: Form())
    profile = Profile(server=ServerProfile(host="127.0.0.1", port=closed_port()))
    profile.registry.port, profile.registry.tls, profile.registry.auth = closed_port(), "none", "none"
    return {row.key: row for row in await dashboard.check_health(profile, EventBus(), lambda row: None)}


@pytest.mark.parametrize("running", [True, False])
async def test_the_daemon_and_route_rows_share_one_gathered_docker_state(
        running: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    host = docker_host(running)
    rows = await _rows(host, monkeypatch)
    assert rows["docker"].status is (Status.OK if running else Status.FAILURE), rows["docker"].detail
    assert rows["bridge"].status is Status.OK, rows["bridge"].detail
    # One version read and one question to the daemon (with its boot setting) for both rows; the
    # registry row's own question, when nothing listens, is not among them.
    assert sum("dockerd --version" in line for line in host.commands) == 1, host.commands
    asked = "regwiz_v=$(docker version"  # DockerState.gather's one command
    assert sum(asked in line for line in host.commands) == 1, host.commands
    # A stopped daemon is not asked for its networks; its log was read instead.
    assert any("docker network inspect" in line for line in host.commands) is running
    state = facts.known(host, facts.DockerState)
    assert state is not None and state.running is running and (state.log is None) is running
