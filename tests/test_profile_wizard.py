"""Profiles written by the wizard survive hand edits; the dashboard re-checks a saved set-up."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from app.profiles import Profile, load_profile, profiles_dir, save_profile
from app.redact import Secret
from app.registry import config as regconfig
from app.registry.deploy import DeployChoices
from app.session import record_registry, record_server
from app.targets import HostForm
from screens.app import RegwizApp
from screens.dashboard import DashboardScreen
from tests.registry_helpers import deployed
from tests.testbed.hosts import Testbed, TestHost


def test_wizard_profile_survives_hand_edits_and_resave(regwiz_home: Path) -> None:
    profile = record_server(Profile(), HostForm(host="203.0.113.10", user="root", password=Secret("s3cret-pw")))
    path = save_profile(profile, profiles_dir() / "ecs.toml")
    assert "s3cret-pw" not in path.read_text()
    # A person edits it: comments, a blank line, an env var name for the password.
    edited = path.read_text().replace('user = "root"', 'user = "root"   # the ECS default\n'
                                      'password_env = "ECS_PASSWORD"\n\n# registry below')
    path.write_text("# our production registry host\n" + edited)
    before = path.read_text()
    loaded = load_profile("ecs")
    assert loaded.server.password_env == "ECS_PASSWORD"
    choices = DeployChoices(settings=regconfig.RegistrySettings(port=5001), names=["203.0.113.10"],
                            users={"ci": Secret("registry-pw")})
    save_profile(record_registry(loaded, choices), path)
    after = path.read_text()
    assert "registry-pw" not in after and "s3cret-pw" not in after
    # Every line the person wrote is still there, in order; only the registry changed.
    kept = [line for line in before.splitlines() if line.strip() and not line.startswith("port = 5000")]
    assert "port = 5001" in after
    remaining = iter(after.splitlines())
    assert all(any(line == other for other in remaining) for line in kept), after
    reloaded = load_profile(str(path))
    assert reloaded.registry.port == 5001 and [u.name for u in reloaded.registry.users] == ["ci"]
    assert path.stat().st_mode & 0o777 == 0o600


async def test_dashboard_rechecks_a_saved_setup(testbed: Testbed, tmp_path: Path, regwiz_home: Path,
                                                monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = testbed.start("ecs")[0]
    try:
        target = await deployed(testbed, host, tmp_path)
        assert target.password is not None
        monkeypatch.setenv("ECS_PASSWORD", host.root_password)
        monkeypatch.setenv("REGISTRY_CI_PASSWORD", target.password.reveal())
        kh = regwiz_home / "state" / "known_hosts"
        kh.parent.mkdir(parents=True, exist_ok=True)
        host.write_known_hosts(kh)
        profile_path = regwiz_home / "config" / "profiles" / "dash.toml"
        profile_path.parent.mkdir(parents=True, exist_ok=True)
        profile_path.write_text(f'''[server]
host = "{host.address}"
user = "root"
password_env = "ECS_PASSWORD"

[registry]
port = 5000
[[registry.users]]
name = "ci"
password_env = "REGISTRY_CI_PASSWORD"
''')
        app = RegwizApp(profile="dash")
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(100):
                if isinstance(app.screen, DashboardScreen):
                    break
                await pilot.pause(0.1)
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            for _ in range(600):
                if "well" in str(screen.query_one("#dashboard-status", Static).render()) or \
                        "need attention" in str(screen.query_one("#dashboard-status", Static).render()):
                    break
                await pilot.pause(0.1)
            rows = {k: (r.status.value, r.detail) for k, r in screen.rows.items()}
            assert str(screen.query_one("#dashboard-status", Static).render()) == "All is well.", rows
            assert set(rows) == {"host", "docker", "bridge", "registry", "tls", "auth", "storage"}
            assert "days to expiry" in rows["tls"][1]
            assert screen.query_one("#health", DataTable).row_count == 7
            # Break it: the registry stops; its row fails and offers to deploy again.
            await __import__("asyncio").to_thread(host.exec, "docker", "stop", "registry")
            await pilot.press("r")
            for _ in range(600):
                if "need attention" in str(screen.query_one("#dashboard-status", Static).render()):
                    break
                await pilot.pause(0.1)
            assert screen.rows["registry"].status.value == "failure"
            assert screen.rows["registry"].fix == "deploy"
    finally:
        testbed.remove(host)
