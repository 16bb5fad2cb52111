"""The first screen, driven with Pilot."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Log, RadioButton, Static

from screens.app import RegwizApp
from screens.steps import STEPS, StepsPanel
from screens.target import TargetScreen


async def test_first_screen_asks_for_the_target_and_shows_the_steps() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, TargetScreen)
        steps = [app.screen.query_one(StepsPanel).step_text(i) for i in range(len(STEPS))]
        assert [s.split(". ", 1)[1] for s in steps] == list(STEPS)
        assert steps[0].startswith("▶")
        assert app.screen.query_one("#remote", RadioButton).value is True
        assert app.focused is app.screen.query_one("#host", Input)


async def test_inline_validation_marks_bad_fields_before_connecting() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press(*"bad host!")
        await pilot.pause()
        screen = app.screen
        assert "not an address" in str(screen.query_one("#host-error", Static).render())
        screen.query_one("#port", Input).value = "70000"
        await pilot.pause()
        assert "1 to 65535" in str(screen.query_one("#port-error", Static).render())
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "Fix the fields" in str(screen.query_one("#status", Static).render())
        assert not screen.query("#log")  # nothing was attempted: no line, the log not even mounted (live_log)


async def test_key_auth_shows_key_fields_and_checks_the_file(tmp_path: Path) -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        assert not screen.query("#field-identity_file")  # not on screen until key login is chosen
        await pilot.click("#auth-key")
        await pilot.pause()
        assert screen.query_one("#field-identity_file").display is True
        assert screen.query_one("#field-password").display is False
        screen.query_one("#identity_file", Input).value = str(tmp_path / "nope")
        await pilot.pause()
        assert "no file at" in str(screen.query_one("#identity_file-error", Static).render())


async def test_this_machine_hides_remote_fields_and_connects_with_live_log() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await pilot.click("#local")
        await pilot.pause()
        assert screen.query_one("#remote-fields").display is False
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        lines = list(screen.query_one("#log", Log).lines)
        assert any(line.startswith("$ uname -srm") for line in lines)
        assert any(line.startswith("Linux ") for line in lines)
        assert "Connected to" in str(screen.query_one("#status", Static).render())
        assert screen.query_one(StepsPanel).step_text(0).startswith("✓")


async def test_saved_profiles_can_be_picked_on_the_first_screen(regwiz_home: Path) -> None:
    from textual.widgets import Select

    from app.profiles import Profile, ServerProfile, profiles_dir, save_profile
    from screens.dashboard import DashboardScreen

    # Loopback and a closed port: the dashboard's checks send nothing off this machine.
    save_profile(Profile(server=ServerProfile(host="127.0.0.1", port=9)), profiles_dir() / "prod.toml")
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        assert screen.query_one("#saved-profiles").display
        screen.query_one("#profile-select", Select).value = "prod"
        await pilot.click("#open-profile")
        await pilot.pause()
        assert screen.query_one("#host", Input).value == "127.0.0.1"  # the choice filled the form
        # The dashboard opens (first asking for the SSH password the profile cannot hold).
        dashboards = [s for s in app.screen_stack if isinstance(s, DashboardScreen)]
        assert dashboards and dashboards[0].profile.server.host == "127.0.0.1"
        for opened in app.screen_stack:
            opened.workers.cancel_all()


async def test_a_unicode_digit_in_the_port_is_an_error_not_a_crash() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        screen.query_one("#host", Input).value = "127.0.0.1"
        screen.query_one("#port", Input).value = "²"  # str.isdigit() says yes, int() says no
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "1 to 65535" in str(screen.query_one("#port-error", Static).render())


def test_the_first_screen_without_profiles_loads_no_toml_or_crypto(tmp_path: Path) -> None:
    """Showing the first screen (no saved profiles) leaves app.profiles, tomlkit and bcrypt unloaded."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    probe = (
        "import asyncio, sys\n"
        "from screens.app import RegwizApp\n"
        "async def main():\n"
        "    async with RegwizApp().run_test(size=(120, 40)) as pilot:\n"
        "        await pilot.pause()\n"
        "    print(','.join(m for m in ('app.profiles', 'tomlkit', 'bcrypt', 'asyncssh') if m in sys.modules))\n"
        "asyncio.run(main())\n"
    )
    env = dict(os.environ, REGWIZ_HOME=str(tmp_path), PYTHONPATH=str(root))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded by the first screen: {result.stdout.strip()}"


async def test_a_fixed_field_loses_its_error_line() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press(*"bad host!")
        await pilot.pause()
        error = app.screen.query_one("#host-error", Static)
        assert error.display and "not an address" in str(error.render())
        app.screen.query_one("#host", Input).value = "203.0.113.10"
        await pilot.pause()
        assert not error.display and str(error.render()).strip() == ""


async def test_the_other_screens_rules_are_read_when_the_first_of_them_opens() -> None:
    """Start-up parses regwiz.tcss alone; regwiz_screens.tcss comes with the first other screen (a modal here)."""
    from screens.hostkey import HostKeyScreen

    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        source = (str(RegwizApp.SCREENS_CSS_PATH), "")
        assert source not in app.stylesheet.source
        app.push_screen(HostKeyScreen("203.0.113.10", "ssh-ed25519", "SHA256:abc"))
        await pilot.pause()
        assert source in app.stylesheet.source
        dialog = app.screen.query_one("#hostkey-dialog")
        assert dialog.styles.max_width is not None and dialog.styles.max_width.value == 72  # regwiz_screens.tcss
