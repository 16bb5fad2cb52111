"""The keyboard contract of the wizard's screens, with Pilot and keys only (no host needed).

Each test here stands for a dead end a keyboard user met (issue 12): it failed on the code
before the contract (screens/wizard.py) was put in.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input, Select, Static

from app.profiles import Profile, RegistryProfile, RegistryUser, ServerProfile, save_profile
from app.transport.local import LocalTransport
from screens.app import RegwizApp
from screens.deploy import DeployScreen
from screens.diagnose import DiagnoseScreen
from screens.steps import StepsPanel
from screens.target import TargetScreen


def status_text(screen, selector: str = "#status") -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one(selector, Static).render())


async def test_enter_moves_through_the_first_screen_and_connects_from_the_last_field() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = app.screen
        assert app.focused is screen.query_one("#host", Input)
        await pilot.press(*"127.0.0.1", "enter")
        assert app.focused is screen.query_one("#port", Input)
        await pilot.press("ctrl+u", *"1", "enter")  # port 1: nothing listens there
        assert app.focused is screen.query_one("#user", Input)
        await pilot.press("enter")
        assert app.focused is screen.query_one("#password", Input)
        await pilot.press(*"not-a-password", "enter")  # Enter in the last field connects
        for _ in range(100):
            if "Connecting" not in status_text(screen) and status_text(screen):
                break
            await pilot.pause(0.05)
        text = status_text(screen)
        assert "Fix the fields" not in text and text, text
        assert "127.0.0.1" in "\n".join(screen.query_one("#log").lines)  # type: ignore[attr-defined]


async def test_placeholders_do_not_look_like_values() -> None:
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for name in ("port", "user"):
            field = screen.query_one(f"#{name}", Input)
            field.value = ""
            await pilot.pause()
            assert field.placeholder == "", (name, field.placeholder)
        assert "e.g." in screen.query_one("#host", Input).placeholder


async def test_the_profile_picker_fills_the_form_and_open_without_a_choice_says_so(regwiz_home: Path) -> None:
    profile = Profile(server=ServerProfile(host="203.0.113.77", port=2222, user="deploy"),
                      registry=RegistryProfile(), clients=[])
    from app.profiles import profiles_dir

    save_profile(profile, profiles_dir() / "ecs-a.toml")
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = app.screen
        await pilot.click("#open-profile")  # (a click here: the message is what is tested)
        await pilot.pause()
        assert "Choose a saved profile" in status_text(screen)
        assert isinstance(app.screen, TargetScreen)
        select = screen.query_one("#profile-select", Select)
        select.focus()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert screen.query_one("#host", Input).value == "203.0.113.77"
        assert screen.query_one("#port", Input).value == "2222"
        assert screen.query_one("#user", Input).value == "deploy"
        assert "Filled in from the profile ecs-a" in status_text(screen)
        assert app.profile is not None and app.profile.server.host == "203.0.113.77"
        assert app.focused is screen.query_one("#password", Input)  # what is left to type


async def test_ticks_stay_when_going_back_and_next_waits_for_the_step() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        target = app.screen
        assert isinstance(target, TargetScreen)
        await pilot.press("ctrl+n")  # not connected yet: nothing happens but a greyed key
        await pilot.pause()
        assert app.screen is target
        target.complete()
        await pilot.pause()
        assert app.steps_done == 1
        app.transport = LocalTransport()
        await app.push_screen(DiagnoseScreen(app.bus, app.transport, "this machine", autorun=False))
        await pilot.pause()
        diagnose = app.screen
        assert diagnose.query_one(StepsPanel).step_text(0).startswith("✓")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is target
        assert target.query_one(StepsPanel).step_text(0).startswith("✓"), "going back lost the tick"


async def test_escape_closes_the_keys_panel_and_stays_on_the_screen() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        app.transport = LocalTransport()
        await app.push_screen(DiagnoseScreen(app.bus, app.transport, "this machine", autorun=False))
        await pilot.pause()
        screen = app.screen
        app.action_show_help_panel()
        await pilot.pause()
        assert screen.query("HelpPanel")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and not screen.query("HelpPanel")
        await pilot.press("escape")  # and then Escape is Back again
        await pilot.pause()
        assert isinstance(app.screen, TargetScreen)


async def test_screenshot_goes_to_the_state_folder_and_says_where(regwiz_home: Path) -> None:
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        written = app.deliver_screenshot()
        await pilot.pause()
        assert written is not None
        path = Path(written)
        assert path.is_file() and path.parent == regwiz_home / "state" / "screenshots"
        assert path.read_text().lstrip().startswith("<svg")


async def test_the_theme_is_kept_between_runs(regwiz_home: Path) -> None:
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "textual-light"
        await pilot.pause()
    again = RegwizApp()
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "textual-light"


async def test_deploy_enter_adds_a_user_and_ctrl_r_reviews_from_any_field() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = DeployScreen(app.bus, LocalTransport(), "203.0.113.10", "203.0.113.10",
                              saved_users=["ci"])
        await app.push_screen(screen)
        await pilot.pause()
        assert app.focused is screen.query_one("#port", Input)
        assert screen.query_one("#user", Input).value == "ci"  # the saved user is a value, not a hint
        assert "password needed: ci" in str(screen.query_one("#users", Static).render())
        screen.query_one("#user-password", Input).focus()
        await pilot.press("enter")  # no password: said next to the fields
        await pilot.pause()
        assert "enter a password for ci" in str(screen.query_one("#user-fields-error", Static).render())
        await pilot.press(*"s3cret-Pass", "enter")
        await pilot.pause()
        assert "ci" in screen.users and "added ci" in str(screen.query_one("#users", Static).render())
        screen.query_one("#port", Input).focus()
        await pilot.press("ctrl+u", *"abc", "ctrl+r")
        await pilot.pause()
        assert "the port is a number" in str(screen.query_one("#port-error", Static).render())
        assert "Port:" in status_text(screen, "#deploy-status")
        assert app.focused is screen.query_one("#port", Input)


async def test_diagnose_footer_keys_and_fix_greyed_without_a_fix() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = DiagnoseScreen(app.bus, LocalTransport(), "this machine", autorun=False)
        await app.push_screen(screen)
        await pilot.pause()
        assert app.focused is screen.query_one("#checks")
        assert screen.check_action("fix", ()) is None  # no result yet: shown greyed out
        assert screen.check_action("next_step", ()) is None
        screen.complete()
        assert screen.check_action("next_step", ()) is True
        assert isinstance(screen.query_one("#next", Button), Button)


async def test_the_palette_offers_onboarding_and_the_team_profile_export(regwiz_home: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.profiles import profiles_dir
    from screens.onboard import OnboardScreen

    monkeypatch.chdir(tmp_path)
    profile = Profile(server=ServerProfile(host="203.0.113.9"), registry=RegistryProfile(
        users=[RegistryUser("ci", "CI_PASSWORD")]), clients=[])
    saved = save_profile(profile, profiles_dir() / "team-src.toml")
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Onboard a machine" in titles and "Export the team profile" not in titles  # no profile yet
        from app.profiles import load_profile

        app.profile = load_profile(str(saved))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Export the team profile" in titles
        app.action_export_team_profile()
        written = tmp_path / "team.toml"
        from app.profiles import parse_profile

        team = parse_profile(written.read_text(), written).team
        assert team is not None and team.registry == "203.0.113.9:5000" and team.username == "ci"
        app.action_export_team_profile()  # a second time: the file is kept, and it says so
        await pilot.pause()
        assert any("exists already" in str(n.message) for n in app._notifications)
        app.show_onboarding()
        await pilot.pause()
        assert isinstance(app.screen, OnboardScreen)


async def test_a_click_on_an_earlier_step_in_the_panel_goes_back_to_it() -> None:
    app = RegwizApp()
    async with app.run_test(size=(100, 34)) as pilot:
        target = app.screen
        target.complete()
        app.transport = LocalTransport()
        await app.push_screen(DiagnoseScreen(app.bus, app.transport, "this machine", autorun=False))
        await pilot.pause()
        diagnose = app.screen
        panel = diagnose.query_one(StepsPanel)
        # Line 3 of the panel's content (after its padding) is step 1, Credentials; step 4 is not reached.
        await pilot.click(StepsPanel, offset=(3, 1 + 2 + 3))
        await pilot.pause()
        assert app.screen is diagnose, "a step not reached yet opened"
        assert any("comes later" in str(n.message) for n in app._notifications)
        await pilot.click(StepsPanel, offset=(3, 1 + 2 + 0))
        await pilot.pause()
        assert app.screen is target
        assert panel.step_text(0).startswith("✓")


async def test_the_first_screens_footer_keys_are_clicked_as_pressed() -> None:
    """The first screen's footer is one widget (screens.footer.KeysFooter): a click on a key runs it,
    a greyed-out key does nothing, and the keys read as Textual's Footer shows them."""
    from screens.footer import KeysFooter

    app = RegwizApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        footer = screen.query_one(KeysFooter)
        assert footer.descriptions()[:3] == ["Next: Diagnose", "Connect", "Copy log"]
        text = str(footer.render())
        # ctrl+n (greyed out until connected): nothing happens, the first screen stays.
        await pilot.click(KeysFooter, offset=(text.index("Next: Diagnose"), 0))
        await pilot.pause()
        assert app.screen is screen and not status_text(screen)
        # ctrl+r Connect, with no address: the form says what to fix.
        await pilot.click(KeysFooter, offset=(text.index("Connect"), 0))
        await pilot.pause()
        assert "Fix the fields" in status_text(screen)


async def test_the_first_screens_title_bar_follows_the_title_and_answers_clicks() -> None:
    """The first screen's header is one widget (screens.footer.TitleBar): the sub-title follows the app's,
    a click makes it tall, a click on the icon opens the command palette (as Textual's Header)."""
    from textual.command import CommandPalette

    from screens.footer import TitleBar

    app = RegwizApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(TitleBar)
        app.sub_title = "another sub-title"
        await pilot.pause()
        assert "another sub-title" in str(bar.render())
        await pilot.click(TitleBar, offset=(50, 0))
        await pilot.pause()
        assert bar.has_class("-tall") and bar.size.height == 3
        await pilot.click(TitleBar, offset=(2, 1))  # the icon, on the tall bar's second line
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
