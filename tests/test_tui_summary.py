"""Step 5, the summary: built from a (stubbed) set-up, driven by keys only, exporting a team profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

from app import pki
from app.clients.configure import ClientResult
from app.clients.model import ClientKind
from app.profiles import Profile, RegistryUser, parse_profile, save_profile
from app.redact import Secret
from app.registry import config as regconfig
from app.registry.deploy import DeployChoices
from app.runlog import FileChangeRecord
from app.steps import Status
from app.summary import NEW_FILE, ExportExists, build_summary, export_team_profile
from screens.app import RegwizApp
from screens.onboard import OnboardScreen
from screens.summary import SummaryScreen

PASSWORD = "summary-pw-" + "x" * 8


def _choices(**settings: object) -> DeployChoices:
    return DeployChoices(settings=regconfig.RegistrySettings(**settings),  # type: ignore[arg-type]
                         names=["203.0.113.10", "registry.example.com"], users={"ci": Secret(PASSWORD)})


def _results() -> list[ClientResult]:
    return [ClientResult("root@198.51.100.7", ClientKind.LINUX, Status.OK,
                         "pulled 203.0.113.10:5000/regwiz/hello:latest in 1.2 s", pull_seconds=1.2),
            ClientResult("root@198.51.100.8", ClientKind.SYSV, Status.FAILURE,
                         "the pull failed: this machine does not trust the CA")]


def _changes() -> list[FileChangeRecord]:
    return [FileChangeRecord("root@198.51.100.7", "/etc/docker/certs.d/203.0.113.10:5000/ca.crt", None, "clients"),
            FileChangeRecord("203.0.113.10", "/etc/docker/daemon.json",
                             "/var/backups/regwiz/20240101-120000/etc/docker/daemon.json", "diagnose")]


def _saved_profile() -> Path:
    profile = Profile()
    profile.server.host = "203.0.113.10"
    profile.registry.users = [RegistryUser("ci", "REGISTRY_CI_PASSWORD")]
    return save_profile(profile, Path(pki.ca_dir()).parent / "saved.toml")


def test_build_summary_says_what_is_true() -> None:
    path = _saved_profile()
    summary = build_summary(_choices(), _results(), _changes(), path)
    ca = pki.load_or_create_ca()
    assert summary.url == "https://203.0.113.10:5000"
    assert summary.ca_file == ca.cert_path and summary.ca_fingerprint == ca.fingerprint_sha256
    assert summary.users == ["ci"]
    assert [c.done for c in summary.clients] == [True, False]  # done only when OK
    assert summary.clients[0].seconds == 1.2 and summary.clients[0].kind == "linux"
    assert [c.backup for c in summary.changes] == [NEW_FILE, "/var/backups/regwiz/20240101-120000/etc/docker/daemon.json"]
    assert "docker login 203.0.113.10:5000 -u ci" in summary.commands
    assert "docker push 203.0.113.10:5000/NAME:TAG" in summary.commands
    text = "\n".join(summary.lines())
    assert "1 of 2 done" in text and PASSWORD not in text
    assert any("root@198.51.100.8" in a and "Not done" in a for a in summary.actions)
    team = summary.team.team if summary.team else None
    assert team is not None and team.registry == "203.0.113.10:5000" and team.ca_pem == ca.cert_pem.decode()
    assert team.username == "ci" and team.password_env == "REGISTRY_CI_PASSWORD"  # the saved profile's variable


def test_summary_without_tls_auth_or_deploy() -> None:
    plain = build_summary(_choices(tls="none", auth="none"), [], [], None)
    assert plain.url == "http://203.0.113.10:5000" and plain.ca_file is None and plain.users == []
    assert not any("docker login" in c for c in plain.commands)
    assert plain.team is not None and plain.team.team is not None and plain.team.team.ca_pem is None
    nothing = build_summary(None, [], [], None)
    assert not nothing.deployed and nothing.team is None and "deploy one first" in (nothing.team_problem or "")
    local = build_summary(DeployChoices(names=["127.0.0.1"], users={"ci": Secret(PASSWORD)}), [], [], None)
    assert local.team is None and "teammates" in (local.team_problem or "")


def test_export_refuses_to_overwrite(tmp_path: Path) -> None:
    summary = build_summary(_choices(), [], [], None)
    target = tmp_path / "team.toml"
    target.write_text("mine\n")
    with pytest.raises(ExportExists):
        export_team_profile(summary, str(target))
    assert target.read_text() == "mine\n"
    export_team_profile(summary, str(target), overwrite=True)
    assert parse_profile(target.read_text(), target).team is not None


def _text(screen: SummaryScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_summary_screen_by_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the export's default file goes into the working directory
    opened: list[str] = []
    monkeypatch.setattr(RegwizApp, "open_profile", lambda self, name: opened.append(name))
    path = _saved_profile()
    summary = build_summary(_choices(), _results(), _changes(), path)
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = SummaryScreen(app.bus, summary)
        await app.push_screen(screen)
        await pilot.pause()
        assert app.focused is screen.query_one("#dashboard", Button)  # the first action
        registry = _text(screen, "#summary-registry")
        assert "https://203.0.113.10:5000" in registry
        assert pki.load_or_create_ca().fingerprint_sha256 in registry.replace("\n", "")
        assert "ci" in _text(screen, "#summary-users")
        assert "✓ done" in _text(screen, "#summary-client-0") and "1.2 s" in _text(screen, "#summary-client-0")
        assert "✗ failure" in _text(screen, "#summary-client-1")
        changes = _text(screen, "#summary-changes")
        assert "backup: new file" in changes and "/var/backups/regwiz/20240101-120000" in changes
        # The dashboard, by its key.
        await pilot.press("d")
        await pilot.pause()
        assert opened == [str(path)]
        # Export with the default path (Enter writes it), read back the same registry and CA.
        await pilot.press("e")
        await pilot.pause()
        field = screen.query_one("#export-path", Input)
        assert app.focused is field and field.value == str(tmp_path / "team.toml")
        await pilot.press("enter")
        await pilot.pause()
        written = tmp_path / "team.toml"
        team = parse_profile(written.read_text(), written).team
        assert team is not None and team.registry == "203.0.113.10:5000"
        assert team.ca_pem == pki.load_or_create_ca().cert_pem.decode()
        assert str(written) in _text(screen, "#export-status")
        # Again: the file exists, so it asks; Enter keeps it (the focus is on "Keep"), then replace it.
        written.write_text("# mine\n")
        await pilot.press("e", "enter")
        await pilot.pause()
        assert "exists already" in _text(screen, "#export-error")
        assert app.focused is screen.query_one("#export-keep", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert written.read_text() == "# mine\n" and app.focused is field
        await pilot.press("enter", "tab", "enter")  # asked again; Tab to "Replace it"
        await pilot.pause()
        assert parse_profile(written.read_text(), written).team is not None
        # Onboard another machine: the onboarding screen opens with this registry's team profile.
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OnboardScreen)
        assert "203.0.113.10:5000" in str(app.screen.query_one("#team-info", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_summary_without_profile_disables_the_dashboard() -> None:
    summary = build_summary(_choices(), _results(), [], None)
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = SummaryScreen(app.bus, summary)
        await app.push_screen(screen)
        await pilot.pause()
        assert screen.query_one("#dashboard", Button).disabled
        assert "no profile was saved" in _text(screen, "#summary-reasons")
        assert app.focused is screen.query_one("#export", Button)
        main = screen.query_one("#summary-main")
        assert main.max_scroll_y > 0  # more than 80x24 holds: it scrolls, by keys too
        await pilot.press("end")
        await pilot.pause()
        assert main.scroll_y == main.max_scroll_y
