"""The dashboard: it asks for the secrets its rows need, every row ends, its keys work.

The unit tests use loopback and closed ports only (nothing leaves this machine);
the testbed test opens a profile exactly as the wizard saves it.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Label, Static

from app.dashboard import REGISTRY_PASSWORD, missing_secrets, needed_secrets
from app.profiles import ClientProfile, Profile, RegistryUser, ServerProfile, profiles_dir, save_profile
from app.steps import Status
from screens.app import RegwizApp
from screens.dashboard import DashboardScreen
from screens.secrets import SecretsScreen

UNSET = ("RWTEST_SSH_PASSWORD", "RWTEST_CI_PASSWORD", "RWTEST_CLIENT_PASSWORD")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unset_profile() -> Profile:
    """Names variables that are not set; the server, registry and client are closed loopback ports."""
    port = closed_port()
    profile = Profile(server=ServerProfile(host="127.0.0.1", port=port, password_env=UNSET[0]))
    profile.registry.port = closed_port()
    profile.registry.users = [RegistryUser("ci", UNSET[1])]
    profile.clients = [ClientProfile(host="127.0.0.1", port=port, password_env=UNSET[2])]
    return profile


async def until(pilot, condition, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out waiting")


def finished(app: RegwizApp) -> bool:
    screen = app.screen
    return isinstance(screen, DashboardScreen) and bool(screen.rows) and not screen.checking and not any(
        r.status in (Status.PENDING, Status.RUNNING) for r in screen.rows.values())


def test_the_engine_names_each_needed_secret_and_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in UNSET:
        monkeypatch.delenv(var, raising=False)
    profile = unset_profile()
    port = profile.server.port
    needed = {n.key: n for n in needed_secrets(profile)}
    assert needed["server.password"].label == f"SSH password of root@127.0.0.1:{port}"
    assert needed["server.password"].env == UNSET[0] and not needed["server.password"].optional
    assert needed[REGISTRY_PASSWORD].label == "password of registry user ci"
    assert needed["client0.password"].env == UNSET[2]
    assert [n.env for n in missing_secrets(profile)] == list(UNSET)
    monkeypatch.setenv(UNSET[1], "from-the-environment")
    assert [n.env for n in missing_secrets(profile)] == [UNSET[0], UNSET[2]]
    # As the wizard saves it: no variables; a key file means no SSH password to ask.
    wizard = Profile(server=ServerProfile(host="203.0.113.10"), clients=[ClientProfile(host="198.51.100.7")])
    wizard.registry.users = [RegistryUser("ci")]
    asked = missing_secrets(wizard)
    assert [n.label for n in asked] == ["SSH password of root@203.0.113.10", "password of registry user ci",
                                        "SSH password of root@198.51.100.7"]
    assert "set REGISTRY" not in asked[1].skipped() and "password_env" in asked[1].skipped()
    wizard.server.identity_file = "~/.ssh/id_ed25519"
    assert "server.password" not in {n.key for n in needed_secrets(wizard)}


async def test_missing_secrets_are_asked_skipped_named_and_the_keys_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in UNSET:
        monkeypatch.delenv(var, raising=False)
    profile = unset_profile()
    path = save_profile(profile, profiles_dir() / "unset.toml")
    app = RegwizApp(profile="unset")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SecretsScreen))
        await pilot.pause()
        modal = app.screen
        labels = [str(label.render()) for label in modal.query(".secret-label").results(Label)]
        assert labels == [f"SSH password of root@127.0.0.1:{profile.server.port} (or set {UNSET[0]})",
                          f"password of registry user ci (or set {UNSET[1]})",
                          f"SSH password of root@127.0.0.1:{profile.server.port} (or set {UNSET[2]})"]
        assert app.focused is modal.query_one("#secret-0", Input)
        # A letter typed in a field is text: it re-checks nothing. Enter moves to the next field.
        await pilot.press("r", "f")
        assert app.screen is modal and modal.query_one("#secret-0", Input).value == "rf"
        await pilot.press("enter")
        assert app.focused is modal.query_one("#secret-1", Input)

        # Escape skips: the rows that need a secret end naming its variable; the others still run.
        await pilot.press("escape")
        await until(pilot, lambda: finished(app))
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert app.focused is screen.query_one("#health", DataTable)
        rows = screen.rows
        assert set(rows) == {"host", "docker", "bridge", "registry", "tls", "auth", "storage",
                             f"client:root@127.0.0.1:{profile.server.port}"}
        client = rows[f"client:root@127.0.0.1:{profile.server.port}"]
        assert client.title == f"root@127.0.0.1:{profile.server.port} pulls"
        for key in ("host", "docker", "bridge"):
            assert rows[key].status is Status.SKIPPED
            assert rows[key].detail == f"skipped: no password given (set {UNSET[0]} or re-check and enter it)"
        assert rows["auth"].status is Status.SKIPPED and UNSET[1] in rows["auth"].detail
        assert client.status is Status.SKIPPED and UNSET[2] in client.detail
        assert rows["registry"].status is Status.FAILURE and "nothing listens" in rows["registry"].detail
        assert not any("check the user name" in r.detail for r in rows.values())
        status = str(screen.query_one("#dashboard-status", Static).render())
        assert "skipped" in status and "press r" in status, status
        # The selected row's whole text is under the table.
        assert UNSET[0] in str(screen.query_one("#row-detail", Static).render())

        # The footer shows Back, Re-check and Fix; f is there once a row with a fix is selected.
        shown = {key: b.binding.action for key, b in screen.active_bindings.items() if b.binding.show}
        assert {"escape": "back", "r": "recheck", "f": "fix"}.items() <= shown.items(), shown
        assert screen.active_bindings["f"].enabled is False  # a skipped row: nothing to fix there
        screen.query_one("#health", DataTable).move_cursor(row=3)  # the registry row
        await pilot.pause()
        assert screen.active_bindings["f"].enabled is True
        assert "Deploy again" in str(screen.query_one("#row-detail", Static).render())

        # r re-checks: it asks again; this time the secrets are typed, and the rows say the real cause.
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SecretsScreen))
        await pilot.pause()
        await pilot.press(*"ssh-pw-123", "enter", *"registry-pw-456", "enter", *"client-pw-789", "enter")
        await until(pilot, lambda: finished(app))
        rows = screen.rows
        assert rows["host"].status is Status.FAILURE and "nothing listens" in rows["host"].detail
        assert rows["docker"].status is Status.SKIPPED and "out of reach" in rows["docker"].detail
        assert rows["auth"].status is Status.FAILURE and "skipped" not in rows["auth"].detail
        logs = "\n".join(screen.query_one("#log").lines)  # type: ignore[attr-defined]
        assert "ssh-pw-123" not in logs and app.bus.redactor("registry-pw-456") == "********"

        # Escape goes back to the first screen.
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DashboardScreen) and len(app.screen_stack) == 1
    assert "pw-" not in path.read_text()


async def test_nothing_is_asked_when_the_variables_hold_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in UNSET:
        monkeypatch.setenv(var, f"{var.lower()}-value")
    save_profile(unset_profile(), profiles_dir() / "set.toml")
    app = RegwizApp(profile="set")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: finished(app))
        assert not any(isinstance(s, SecretsScreen) for s in app.screen_stack)
        rows = app.screen.rows  # type: ignore[attr-defined]
        assert rows["host"].status is Status.FAILURE and "nothing listens" in rows["host"].detail
        assert not any(r.status is Status.SKIPPED and "given" in r.detail for r in rows.values())


async def test_a_profile_as_the_wizard_saves_it_is_checked_after_asking(
        testbed, fresh_host, tmp_path: Path, regwiz_home: Path) -> None:  # type: ignore[no-untyped-def]
    from app.clients.model import ClientKind
    from app.redact import Secret
    from app.registry import config as regconfig
    from app.registry.deploy import DeployChoices
    from app.registry.image import ImageSource
    from app.session import record_clients, record_registry, record_server
    from app.targets import HostForm
    from app.paths import known_hosts_path
    from tests.registry_helpers import deployed

    server, laptop = fresh_host("ecs"), fresh_host("linux_client")
    target = await deployed(testbed, server, tmp_path)
    assert target.password is not None and target.ca_pem is not None
    # The laptop trusts the CA, as the clients step left it; regwiz knows both hosts' keys.
    laptop.exec("mkdir", "-p", f"/etc/docker/certs.d/{target.address}")
    laptop.exec("sh", "-c", f"cat > /etc/docker/certs.d/{target.address}/ca.crt", input=target.ca_pem.decode())
    known = known_hosts_path()
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text("\n".join(server.known_hosts_lines() + laptop.known_hosts_lines()) + "\n")

    # The profile exactly as the wizard saves it: the steps' record_* functions, no variables named.
    profile = record_server(Profile(), HostForm(host=server.address, user="root",
                                                password=Secret(server.root_password)))
    record_registry(profile, DeployChoices(settings=regconfig.RegistrySettings(), names=[server.address],
                                           users={"ci": target.password}, image=ImageSource(kind="auto")))
    record_clients(profile, {"laptop": (HostForm(host=laptop.address, user="root",
                                                 password=Secret(laptop.root_password)), ClientKind.LINUX)})
    path = save_profile(profile, profiles_dir() / "ecs.toml")
    text = path.read_text()
    assert "password_env" not in text and server.root_password not in text

    app = RegwizApp(profile=str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SecretsScreen))
        await pilot.pause()
        labels = [str(label.render()) for label in app.screen.query(".secret-label").results(Label)]
        assert labels == [f"SSH password of root@{server.address}; empty: use the SSH agent",
                          "password of registry user ci",
                          f"SSH password of root@{laptop.address}; empty: use the SSH agent"]
        await pilot.press(*server.root_password, "enter", *target.password.reveal(), "enter",
                          *laptop.root_password, "enter")
        await until(pilot, lambda: finished(app), seconds=300)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        rows = {k: (r.status.value, r.detail) for k, r in screen.rows.items()}
        assert all(status == "ok" for status, _ in rows.values()), rows
        assert rows[f"client:root@{laptop.address}"][1].startswith("linux: pulled in"), rows
        assert str(screen.query_one("#dashboard-status", Static).render()) == "All is well."
        await asyncio.sleep(0)
    # Nothing regwiz wrote holds a password it was given.
    written = [p.read_text(errors="replace") for p in regwiz_home.rglob("*") if p.is_file()]
    for secret in (server.root_password, laptop.root_password, target.password.reveal()):
        assert not any(secret in content for content in written)
