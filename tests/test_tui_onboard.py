"""Guided onboarding: the shared engine (app.onboarding), and the TUI driven by keys onto a real registry."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from textual.widgets import Input, Log, Static

from app.clients.configure import ClientResult
from app.clients.model import ClientKind, RegistryTarget
from app.onboarding import (HostAnswers, OnboardError, host_form, host_problems, host_spec, local_spec,
                            needs_password, outcome_of, password_from_env, registry_for, registry_refused,
                            team_from_file, team_from_text)
from app.profiles import Profile, TeamProfile, render_profile
from app.redact import Redactor, Secret
from app.steps import Status
from screens.app import RegwizApp
from screens.hostkey import HostKeyScreen
from screens.onboard import OnboardScreen
from screens.plan import PlanScreen
from tests.testbed.hosts import Testbed

TEAM = '[team]\nregistry = "203.0.113.10:5000"\nmode = "private"\ntls = true\nusername = "ci"\n' \
       'password_env = "TEAM_REG_PW"\n'


def _team_file(tmp_path: Path, team: TeamProfile) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(render_profile(Profile(team=team)))
    return path


# -- the engine -----------------------------------------------------------------------

def test_team_profile_from_text_and_file(tmp_path: Path) -> None:
    team = team_from_text(TEAM)
    assert team.registry == "203.0.113.10:5000" and needs_password(team)
    path = tmp_path / "t.toml"
    path.write_text(TEAM)
    assert team_from_file(str(path))[0] == team
    with pytest.raises(OnboardError, match="no file at"):
        team_from_file(str(tmp_path / "missing.toml"))
    with pytest.raises(OnboardError, match="no \\[team\\] table.*export-team-profile"):
        team_from_text('[server]\nhost = "203.0.113.10"\n')
    with pytest.raises(OnboardError, match="HOST:PORT.*fix \\[team\\] registry"):
        team_from_text('[team]\nregistry = "203.0.113.10"\n')
    with pytest.raises(OnboardError, match="port of 1 to 65535"):
        team_from_text('[team]\nregistry = "203.0.113.10:99999"\n')
    with pytest.raises(OnboardError, match="not an address or host name"):
        team_from_text('[team]\nregistry = "bad;host:5000"\n')
    with pytest.raises(OnboardError, match="empty"):
        team_from_text("  \n")
    with pytest.raises(OnboardError, match="line 1"):  # a TOML error names where
        team_from_text("[team\n")


def test_registry_password(monkeypatch: pytest.MonkeyPatch) -> None:
    team = team_from_text(TEAM)
    monkeypatch.delenv("TEAM_REG_PW", raising=False)
    assert password_from_env(team) is None
    with pytest.raises(OnboardError, match="enter the password of registry user ci \\(or set TEAM_REG_PW\\)"):
        registry_for(team, None, None)
    monkeypatch.setenv("TEAM_REG_PW", "from-the-env")
    assert password_from_env(team) == Secret("from-the-env")
    redactor = Redactor()
    target = registry_for(team, redactor, Secret("typed-pw-1"))  # typed wins over the variable
    assert (target.host, target.port, target.username) == ("203.0.113.10", 5000, "ci")
    assert target.password == Secret("typed-pw-1") and redactor("x typed-pw-1") == "x ********"
    anonymous = registry_for(team_from_text('[team]\nregistry = "[2001:db8::1]:5000"\ntls = false\n'), None, None)
    assert anonymous.host == "2001:db8::1" and anonymous.username is None and not anonymous.tls


def test_host_answers(tmp_path: Path) -> None:
    assert host_problems(HostAnswers("bad host!", port="0", user="")) .keys() == {"host", "port", "password"}
    assert "identity_file" in host_problems(HostAnswers("10.0.0.1", auth="key", identity_file=str(tmp_path / "no")))
    redactor = Redactor()
    form = host_form(HostAnswers("10.0.0.1", port="2222", user="deploy", password=Secret("ssh-pw-1")), redactor)
    assert (form.host, form.port, form.user, form.auth) == ("10.0.0.1", 2222, "deploy", "password")
    assert form.sudo_password == Secret("ssh-pw-1") and "ssh-pw-1" not in redactor("ssh-pw-1")
    assert host_spec(form).name == "deploy@10.0.0.1" and local_spec().name == "this machine"
    with pytest.raises(OnboardError, match="host"):
        host_form(HostAnswers(""), None)


def test_outcome_is_done_only_when_pulled() -> None:
    registry = RegistryTarget("203.0.113.10", 5000, True, None, "ci", Secret("x"))
    ok = outcome_of(ClientResult("a", ClientKind.LINUX, Status.OK, "pulled", pull_seconds=0.5), registry)
    assert ok.done and "Done" in ok.message
    assert not outcome_of(ClientResult("a", ClientKind.CONTAINERD, Status.OK, "trust files written"), registry).done
    refused = outcome_of(ClientResult("a", ClientKind.LINUX, Status.FAILURE,
                                      "`docker login 203.0.113.10:5000 -u ci --password-stdin` exited with 1: "
                                      "Error response from daemon: unauthorized: incorrect username or password"),
                         registry)
    assert refused.password_refused and not refused.done and "retype" in refused.message
    assert not registry_refused("the pull failed: the registry needs a login; fix: docker login")
    assert not outcome_of(ClientResult("a", None, Status.FAILURE, "root@a refused the login: check the user name"),
                          registry).password_refused


# -- the screen, without hosts ----------------------------------------------------------------

async def test_onboard_screen_errors_next_to_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_REG_PW", "env-pw-123")
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = OnboardScreen(app.bus)
        await app.push_screen(screen)
        await pilot.pause()
        assert app.focused is screen.query_one("#team-file", Input)
        await pilot.press("ctrl+r")  # nothing read yet
        await pilot.pause()
        assert "read a team profile first" in str(screen.query_one("#team-file-error", Static).render())
        await pilot.press(*str(tmp_path / "nope.toml"), "enter")
        await pilot.pause()
        assert "no file at" in str(screen.query_one("#team-file-error", Static).render())
        path = tmp_path / "t.toml"
        path.write_text(TEAM)
        await pilot.press("ctrl+a", "ctrl+k", *str(path), "enter")
        await pilot.pause()
        assert "203.0.113.10:5000" in str(screen.query_one("#team-info", Static).render())
        assert app.focused is screen.query_one("#machine")
        field = screen.query_one("#registry-password", Input)
        assert field.value == "env-pw-123"  # from the team profile's password_env
        assert "filled from $TEAM_REG_PW" in str(screen.query_one("#registry-password-label").render())
        await pilot.press("down", "enter")  # a host over SSH: its address is next
        await pilot.pause()
        assert app.focused is screen.query_one("#host", Input)
        await pilot.press(*"bad host!", "enter", "enter", "enter", "enter", "enter")  # the last field: review
        await pilot.pause()
        assert "not an address" in str(screen.query_one("#host-error", Static).render())
        assert "SSH password" in str(screen.query_one("#password-error", Static).render())
        assert app.focused is screen.query_one("#host", Input)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, OnboardScreen)


async def test_pasted_team_profile(tmp_path: Path) -> None:
    app = RegwizApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = OnboardScreen(app.bus)
        await app.push_screen(screen)
        await pilot.pause()
        await pilot.press("tab")  # from the file's field to the text area
        await pilot.pause()
        screen.query_one("#team-text").insert('[server]\nhost = "x"\n')  # (a paste)
        await pilot.press("tab", "enter")  # to the button, and press it
        await pilot.pause()
        assert "no [team] table" in str(screen.query_one("#team-file-error", Static).render())
        screen.query_one("#team-text").clear()
        screen.query_one("#team-text").insert(TEAM)
        await pilot.pause(0.3)  # (a button ignores a second press within its 0.2 s press effect)
        assert app.focused is screen.query_one("#load-pasted")  # (still: Enter pressed it)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.team is not None and screen.team.registry == "203.0.113.10:5000"


# -- onto a real registry --------------------------------------------------------------------------

async def _wait_for(pilot, condition, seconds: float = 120) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 10)):
        if condition():
            return True
        await pilot.pause(0.1)
    return condition()


async def test_onboard_a_host_in_the_tui(testbed: Testbed, tls_registry: RegistryTarget, fresh_host,  # type: ignore[no-untyped-def]
                                         tmp_path: Path) -> None:
    host = fresh_host("linux_client")
    assert tls_registry.ca_pem is not None and tls_registry.password is not None
    team = TeamProfile(registry=f"{tls_registry.host}:{tls_registry.port}", ca_pem=tls_registry.ca_pem.decode(),
                       username=tls_registry.username)
    path = _team_file(tmp_path, team)
    app = RegwizApp()
    async with app.run_test(size=(120, 50)) as pilot:
        screen = OnboardScreen(app.bus)
        await app.push_screen(screen)
        await pilot.pause()
        status = lambda: str(screen.query_one("#onboard-status", Static).render())  # noqa: E731
        await pilot.press(*str(path), "enter")  # read the team profile
        await pilot.press("down", "enter")  # a host over SSH
        await pilot.pause()
        await pilot.press(*host.address, "enter", "enter", "enter")  # address, port 22, user root
        await pilot.press(*host.root_password, "enter")
        await pilot.press(*tls_registry.password.reveal(), "enter")  # the last field: see what will change
        assert await _wait_for(pilot, lambda: isinstance(app.screen, (HostKeyScreen, PlanScreen))), status()
        assert isinstance(app.screen, HostKeyScreen)
        modal = app.screen
        assert await _wait_for(pilot, lambda: app.focused is not None and app.focused is modal.query_one("#cancel"))
        await pilot.press("shift+tab", "enter")  # from Cancel (the safe focus) to Accept
        # (until the plan's widgets are mounted and Cancel has the focus, not only the modal pushed)
        assert await _wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and app.focused is not None
                               and app.focused.id == "cancel"), status()
        assert "ca.crt" in str(app.screen.query_one("#plan-diff", Static).render())
        await pilot.press("shift+tab", "enter")  # Apply
        assert await _wait_for(pilot, lambda: app.screen is screen and status().startswith(("Done", "root@")) and
                               not screen.query_one("#review").disabled, 300), status()
        assert status().startswith("Done: root@"), status()
        assert screen.done and "pulled" in status()
        assert host.exec("test", "-f", f"/etc/docker/certs.d/{tls_registry.address}/ca.crt", check=False).returncode == 0
        log = "\n".join(screen.query_one("#log", Log).lines)
        assert "docker pull" in log
        assert host.root_password not in log and tls_registry.password.reveal() not in log

        # A wrong registry password: refused, said so, not done; the field asks for it again.
        await pilot.press("ctrl+a", "ctrl+k", *("wrong-" + secrets.token_urlsafe(6)), "ctrl+r")
        assert await _wait_for(pilot, lambda: "refused" in status() and not screen.query_one("#review").disabled,
                               120), status()
        assert not screen.done and "Done" not in status()
        assert "retype" in str(screen.query_one("#registry-password-error", Static).render())
        assert app.focused is screen.query_one("#registry-password", Input)
