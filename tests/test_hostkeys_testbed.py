"""Host-key trust against real sshd: unknown keys are asked about, changed keys refused."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest
from textual.widgets import Button, Log, Static

from app import paths
from app.redact import Secret
from app.transport import Command
from app.transport.hostkeys import HostKeyChanged, HostKeyNotAccepted, HostKeyUnknown, KnownHostsStore
from app.transport.ssh import SSHTarget, SSHTransport
from screens.app import RegwizApp
from screens.hostkey import HostKeyScreen
from screens.target import TargetScreen
from tests.testbed.hosts import TestHost


def fingerprints(host: TestHost) -> dict[str, str]:
    keys = [asyncssh.import_public_key(line) for line in host.host_keys]
    return {k.get_fingerprint("sha256"): k.get_algorithm() for k in keys}


def password_target(host: TestHost, store: KnownHostsStore) -> SSHTarget:
    return SSHTarget(host=host.address, user="root", password=Secret(host.root_password),
                     use_agent=False, known_hosts=store)


async def test_unknown_key_is_shown_then_trusted_once_accepted(ecs: TestHost) -> None:
    store = KnownHostsStore.default()
    assert store.own.is_relative_to(paths.state_dir())
    transport = SSHTransport(password_target(ecs, store))
    with pytest.raises(HostKeyUnknown) as caught:
        await transport.connect()
    unknown = caught.value
    assert fingerprints(ecs)[unknown.fingerprint] == unknown.key_type
    assert unknown.fingerprint in str(unknown)
    await transport.accept_host_key(unknown.key)
    assert store.own.stat().st_mode & 0o777 == 0o600
    async with transport:
        assert (await transport.run(Command("hostname"), check=True)).stdout == "ecs"


async def test_connect_trusting_asks_once_and_writes_only_an_accepted_key(ecs: TestHost, tmp_path: Path) -> None:
    store = KnownHostsStore(tmp_path / "known_hosts")
    asked: list[tuple[str, str]] = []

    def answer(yes: bool):  # type: ignore[no-untyped-def]
        async def ask(name: str, unknown: HostKeyUnknown) -> bool:
            asked.append((name, unknown.fingerprint))
            return yes
        return ask

    transport = SSHTransport(password_target(ecs, store))
    with pytest.raises(HostKeyNotAccepted) as refused:
        await transport.connect_trusting(answer(False), name="the ecs host")
    assert "the host key of the ecs host was not accepted" in str(refused.value)
    assert not store.own.exists() or store.own.read_text() == ""  # a no writes nothing
    assert asked == [("the ecs host", refused.value.unknown.fingerprint)]
    with pytest.raises(HostKeyNotAccepted):
        await transport.connect_trusting(None)  # nobody to ask: refused, not trusted
    await transport.connect_trusting(answer(True))
    try:
        assert (await transport.run(Command("hostname"), check=True)).stdout == "ecs"
    finally:
        await transport.close()
    assert len(asked) == 2 and asked[1][0] == transport.label
    again = SSHTransport(password_target(ecs, store))
    await again.connect_trusting(answer(False))  # known now: not asked again
    await again.close()
    assert len(asked) == 2


async def test_changed_key_is_refused_with_advice(bare: TestHost, tmp_path: Path) -> None:
    store = KnownHostsStore(tmp_path / "known_hosts")
    bare.write_known_hosts(store.own)
    async with SSHTransport(password_target(bare, store)) as t:
        await t.run(Command("true"), check=True)
    bare.regenerate_host_keys()  # the man in the middle
    with pytest.raises(HostKeyChanged) as caught:
        await SSHTransport(password_target(bare, store)).connect()
    message = str(caught.value)
    assert "REFUSED" in message and "man in the middle" in message
    assert caught.value.fingerprint in fingerprints(bare)
    assert f"ssh-keygen -R '{bare.address}'" in message
    # Nothing in the store was changed by the refusal.
    assert store.own.read_text().count("\n") == len(bare.known_hosts_lines())


async def _wait_for(pilot, predicate, attempts: int = 200) -> None:  # type: ignore[no-untyped-def]
    for _ in range(attempts):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def fill_remote_form(app: RegwizApp, host: TestHost, pilot) -> TargetScreen:  # type: ignore[no-untyped-def]
    screen = app.screen
    assert isinstance(screen, TargetScreen)
    screen.query_one("#host").value = host.address  # type: ignore[attr-defined]
    screen.query_one("#user").value = "root"  # type: ignore[attr-defined]
    screen.query_one("#password").value = host.root_password  # type: ignore[attr-defined]
    await pilot.pause()
    return screen


async def test_tui_connects_to_a_testbed_host_through_the_fingerprint_modal(ecs_gateway_routes: TestHost) -> None:
    host = ecs_gateway_routes
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await fill_remote_form(app, host, pilot)
        await pilot.press("ctrl+t")
        # (until the modal's widgets are mounted: the safe choice has the focus)
        await _wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen) and app.focused is not None
                        and app.focused.id == "cancel")
        modal = app.screen
        shown = str(modal.query_one("#fingerprint", Static).render())
        key_type, fingerprint = shown.splitlines()
        assert fingerprints(host)[fingerprint] == key_type
        assert app.focused is modal.query_one("#cancel", Button)  # the safe choice
        await pilot.click("#accept")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is screen
        assert "Connected to root@" in str(screen.query_one("#status", Static).render())
        lines = list(screen.query_one("#log", Log).lines)
        assert "$ uname -srm" in lines and any(line.startswith("Linux ") for line in lines)
        assert not any(host.root_password in line for line in lines)
    assert KnownHostsStore.default().trusted_keys(host.address, 22)


async def test_tui_cancelled_fingerprint_does_nothing(ecs_conflict: TestHost) -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await fill_remote_form(app, ecs_conflict, pilot)
        await pilot.press("ctrl+t")
        # (until the modal's widgets are mounted: the safe choice has the focus)
        await _wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen) and app.focused is not None
                        and app.focused.id == "cancel")
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "not accepted" in str(screen.query_one("#status", Static).render())
    assert not KnownHostsStore.default().trusted_keys(ecs_conflict.address, 22)


async def test_tui_refuses_a_changed_key(fresh_host) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs")
    store = KnownHostsStore.default()
    store.own.parent.mkdir(parents=True, exist_ok=True)
    host.write_known_hosts(store.own)
    host.regenerate_host_keys()
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await fill_remote_form(app, host, pilot)
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, HostKeyScreen)  # nothing offers to accept it
        status = str(screen.query_one("#status", Static).render())
        assert "REFUSED" in status and "man in the middle" in status
        assert screen.query_one("#next", Button).disabled
