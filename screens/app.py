"""The Textual application: a wizard of screens over the engine in ``app``."""

from __future__ import annotations

import gc
import os
from pathlib import Path
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Callable, Iterable, cast

from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.binding import Binding

from app.events import EventBus
from app.i18n import N_, _
from app.runlog import RunLogs
from screens.steps import STEPS, StepsPanel
from screens.target import TargetScreen
if TYPE_CHECKING:  # (imported when used: start-up time)
    from app.profiles import Profile
    from app.transport import Transport
    from app.registry.deploy import DeployChoices
from screens.wizard import (Connected, GoToStep, OpenDashboard, OpenRegistry, OpenStep, ProfileChosen, RegistryDeployed,
                            SaveToProfile, StepDone, WizardStep)

class RegwizApp(App[None]):
    TITLE = "regwiz"
    SUB_TITLE = N_("a private Docker registry, step by step")  # shown with _()
    CSS_PATH = "regwiz.tcss"  # the first screen's rules (and those shared by every screen)
    # The other screens' rules, read when the first of them is pushed: start-up parses only the first
    # screen's part (8.0 ms to parse the whole file at best, 0.7 ms this part, measured). Nothing in this file
    # matches the first screen, and it comes after regwiz.tcss, as it did when both were one file.
    SCREENS_CSS_PATH = Path(__file__).with_name("regwiz_screens.tcss")
    _screens_css_read = False
    BINDINGS = [Binding("ctrl+q", "quit", N_("Quit"), priority=True)]

    def __init__(self, profile: str | None = None, *, resume_gc: bool = False) -> None:
        super().__init__()
        self.sub_title = _(self.SUB_TITLE)
        self.resume_gc = resume_gc  # the garbage collector waits for the first screen (app.cli)
        self.profile_name = profile
        self.profile: Profile | None = None  # the Profile in use, once loaded
        self.bus = EventBus()
        self.run_logs = RunLogs()
        self.bus.subscribe(self.run_logs)
        self.transport: Transport | None = None
        self.host_label = ""
        self.registry_choices: DeployChoices | None = None  # once the registry is deployed
        self.steps_done = 0  # how many wizard steps are done in this run (the steps panel's ticks)
        self._restore_theme()

    def get_default_screen(self) -> Screen:
        # The first screen is the app's own (the bottom of the stack), not pushed above Textual's empty
        # default screen: one screen fewer to compose, style and lay out before the first key (84M
        # instructions of 1,770M, measured). Every other screen is pushed above it, so "there is a screen to
        # go back to" is a stack deeper than one (``len(screen_stack) > 1``).
        return TargetScreen(self.bus)

    def push_screen(self, screen, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        if not self._screens_css_read and not isinstance(screen, TargetScreen):
            self._screens_css_read = True
            path = self.SCREENS_CSS_PATH
            self.stylesheet.add_source(path.read_text(encoding="utf-8"), read_from=(str(path), ""))
        return super().push_screen(screen, *args, **kwargs)

    def _restore_theme(self) -> None:
        from app.settings import load_settings

        theme = load_settings().get("theme")
        if theme and theme in self.available_themes:
            self.theme = theme

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._keep_theme)
        self.call_after_refresh(self.startup_finished)
        if self.profile_name:
            # After the first screen is composed: the profile fills it in.
            self.call_after_refresh(self.open_profile, self.profile_name)

    def _keep_theme(self, theme: object) -> None:
        """The theme chosen in the palette is kept for the next run."""
        from app.settings import save_setting

        try:
            save_setting("theme", self.theme)
        except OSError as exc:
            self.notify(_("could not keep the theme: {error}").format(error=exc), severity="warning")

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """An SVG of the screen in regwiz's state folder (Textual's default, ~/Downloads, may not exist)."""
        from app.paths import ensure_private_dir, state_dir

        folder = Path(path) if path else state_dir() / "screenshots"
        try:
            ensure_private_dir(folder)
            written = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(_("Screenshot not saved: {error} ({folder})").format(error=exc.strerror or exc, folder=folder),
                        severity="error", timeout=10)
            return None
        self.notify(_("Screenshot saved: {path}").format(path=written), timeout=10)
        return written

    # -- moving through the wizard (messages from the step screens) -----------------------
    def on_step_done(self, message: StepDone) -> None:
        self.steps_done = max(self.steps_done, message.index + 1)
        for screen in self.screen_stack:
            for panel in screen.query(StepsPanel):
                panel.mark_done(self.steps_done)

    def _current_step(self) -> int | None:
        screen = self.screen
        return screen.STEP if isinstance(screen, WizardStep) else None

    def on_go_to_step(self, message: GoToStep) -> None:
        index = message.index
        # A step already open (beneath this one): back to it.
        steps = [s for s in self.screen_stack if isinstance(s, WizardStep) and s.STEP == index]
        if steps:
            while self.screen is not steps[-1]:
                self.pop_screen()
            return
        current = self._current_step()
        if current is None or index != current + 1 or not isinstance(self.screen, WizardStep) \
                or not self.screen.step_complete:
            following = STEPS[current + 1] if current is not None and current + 1 < len(STEPS) else None
            if following:
                text = _("{step} comes later: the steps go in order; next is {following} (ctrl+n once this "
                         "step is done).").format(step=_(STEPS[index]), following=_(following))
            else:
                text = _("{step} comes later: the steps go in order.").format(step=_(STEPS[index]))
            self.notify(text, severity="warning")
            return
        opener = {1: self.show_diagnosis, 2: self.show_deploy, 3: self.show_clients, 4: self.show_summary}
        opener[index]()

    def on_open_dashboard(self, message: OpenDashboard) -> None:
        self.open_profile(message.profile)

    def on_profile_chosen(self, message: ProfileChosen) -> None:
        self.profile = cast("Profile", message.profile)

    def on_connected(self, message: Connected) -> None:
        self.adopt_transport(message.transport, message.host_label)

    def on_save_to_profile(self, message: SaveToProfile) -> None:
        self.remember(message.record, *message.args)

    def on_registry_deployed(self, message: RegistryDeployed) -> None:
        self.registry_choices = message.choices

    def on_open_step(self, message: OpenStep) -> None:
        {1: self.show_diagnosis, 2: self.show_deploy}[message.index]()

    def on_open_registry(self, message: OpenRegistry) -> None:
        self.show_registry()

    def startup_finished(self) -> None:
        """The first screen is drawn: what exists now lives on; the garbage collector resumes."""
        if self.resume_gc:
            self.resume_gc = False
            gc.freeze()
            gc.enable()

    def open_profile(self, name: str) -> None:
        """A saved set-up: its dashboard, with the first screen filled in beneath it."""
        from app.profiles import ProfileError, load_profile
        from screens.dashboard import DashboardScreen

        try:
            profile = load_profile(name)
        except ProfileError as exc:
            self.notify(str(exc), severity="error", timeout=15)
            return
        self.profile = profile
        target = self.screen_stack[0]  # (the first screen, at the bottom)
        if isinstance(target, TargetScreen):
            target.prefill(profile)
        self.push_screen(DashboardScreen(self.bus, profile))

    def adopt_transport(self, transport: Transport, host_label: str) -> None:
        """Keep the connection the credentials step opened, for the steps after it."""
        old = self.transport
        self.transport, self.host_label = transport, host_label
        if old is not None and old is not transport:
            self.run_worker(old.close(), exclusive=False)

    def show_diagnosis(self) -> None:
        from screens.diagnose import DiagnoseScreen

        assert self.transport is not None
        self.push_screen(DiagnoseScreen(self.bus, self.transport, self.host_label))

    # -- the profile: what the wizard learned, saved as it goes ------------------------
    def remember(self, record: Callable[..., object], *args: object) -> None:
        from app.profiles import Profile, ProfileError, profiles_dir, save_profile
        from app.session import profile_name_for

        profile = self.profile or Profile()
        record(profile, *args)
        path = profile.path or profiles_dir() / f"{profile_name_for(profile.server.host or 'local')}.toml"
        try:
            save_profile(profile, path)
        except (OSError, ProfileError) as exc:
            self.notify(_("could not save the profile: {error}").format(error=exc), severity="error")
            return
        self.profile = profile
        self.notify(_("Saved to profile {name} (no secrets)").format(name=path.stem), timeout=4)

    def registry_address(self) -> str:
        """The address clients use: the one regwiz connected to (this machine: loopback)."""
        target = getattr(self.transport, "target", None)
        return target.host if target is not None else "127.0.0.1"

    def show_deploy(self) -> None:
        from app.registry.image import ImageSource
        from screens.deploy import DeployScreen

        assert self.transport is not None
        saved_users: list[str] = [u.name for u in self.profile.registry.users] if self.profile is not None else []
        self.push_screen(DeployScreen(self.bus, self.transport, self.host_label, self.registry_address(),
                                      image=ImageSource.from_environment(), saved_users=saved_users))

    def show_clients(self) -> None:
        from app.registry.prove import client_target
        from screens.clients import ClientsScreen

        assert self.registry_choices is not None
        saved = list(self.profile.clients) if self.profile is not None else []
        self.push_screen(ClientsScreen(self.bus, client_target(self.registry_choices), saved=saved))

    def show_summary(self) -> None:
        from app.summary import build_summary
        from screens.clients import ClientsScreen
        from screens.summary import SummaryScreen

        clients = next((s for s in reversed(self.screen_stack) if isinstance(s, ClientsScreen)), None)
        summary = build_summary(self.registry_choices, clients.results if clients else [],
                                self.run_logs.changes, self.profile.path if self.profile else None)
        self.push_screen(SummaryScreen(self.bus, summary))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from app.i18n import LANGUAGES, current

        for command in super().get_system_commands(screen):  # Textual's own (marked in screens/footer.py)
            yield command._replace(title=_(command.title), help=_(command.help))
        yield SystemCommand(_("Open the logs folder"), _("Show where this run's logs and report are"),
                            self.action_open_logs)
        yield SystemCommand(_("Write the run report"), _("Markdown: every file changed, with its backup"),
                            self.action_write_report)
        if self.transport is not None:
            yield SystemCommand(_("Re-run diagnostics"), _("Check the registry host again"), self.show_diagnosis)
        if self.transport is not None and self.registry_choices is not None:
            yield SystemCommand(_("Open the registry"), _("Its tags and sizes, storage; delete and prune"),
                                self.show_registry)
        yield SystemCommand(_("Onboard a machine"), _("Join a team's registry from its team profile: this machine "
                            "or a host"), self.show_onboarding)
        if self.profile is not None and self.profile.path is not None:
            yield SystemCommand(_("Export the team profile"), _("What teammates need (address, CA; no secret), "
                                "into the working directory"), self.action_export_team_profile)
        for language, name in LANGUAGES.items():
            # Each language named in its own words: whoever cannot read the one in use still finds theirs.
            chosen = _(" (in use)") if language == current() else ""
            yield SystemCommand(_("Language: {name}").format(name=name) + chosen,
                                _("Show regwiz in {language}, now and in later runs").format(language=name),
                                lambda language=language: self.choose_language(language))
        from app.profiles import list_profiles

        for name in list_profiles():
            yield SystemCommand(_("Switch profile: {name}").format(name=name), _("Open this saved set-up's dashboard"),
                                lambda name=name: self.open_profile(name))

    def choose_language(self, language: str) -> None:
        """The palette's language: in use at once (keys, steps, title, and the labels, buttons and hints of
        every open screen, relabelled in place: what was typed and chosen stays), and kept in the settings
        for the runs after this one."""
        from textual.command import CommandPalette

        from app.i18n import LANGUAGES, retranslator, use
        from app.settings import save_setting
        from screens.relabel import relabel

        again = retranslator()
        use(language)
        self.sub_title = _(self.SUB_TITLE)
        from textual.widgets import Footer

        for screen in self.screen_stack:
            if not isinstance(screen, CommandPalette):
                relabel(screen, again)
            for footer in screen.query(Footer):  # (Textual's and screens.footer's)
                footer.refresh(recompose=True)
            for panel in screen.query(StepsPanel):
                panel.refresh()
        self.screen.refresh_bindings()
        try:
            save_setting("language", language)
        except OSError as exc:
            self.notify(_("{language} from now on, but not kept for the next run: {error}").format(
                language=LANGUAGES[language], error=exc), severity="warning", timeout=10)
            return
        self.notify(_("{language} from now on, and in later runs. A message written before the change (a status "
                      "line, a result) reads in it when it is written again.").format(language=LANGUAGES[language]),
                    timeout=10)

    def show_registry(self) -> None:
        from app.registry.ops import source_from_choices
        from screens.registry import RegistryScreen

        assert self.transport is not None and self.registry_choices is not None
        source = source_from_choices(self.registry_choices)
        self.push_screen(RegistryScreen(self.bus, source, self.transport, self.host_label or source.url))

    def show_onboarding(self) -> None:
        from screens.onboard import OnboardScreen

        self.push_screen(OnboardScreen(self.bus))

    def action_export_team_profile(self) -> None:
        """The palette's export: the profile in use, as a team profile in the working directory."""
        from app import pki
        from app.profiles import ProfileError, team_profile_from
        from app.summary import ExportError, ExportExists, default_export_path, write_team_profile

        assert self.profile is not None
        target = default_export_path()
        try:
            ca_pem = pki.load_or_create_ca().cert_pem.decode() if self.profile.registry.tls == "own-ca" else None
            written = write_team_profile(team_profile_from(self.profile, ca_pem), str(target))
        except ExportExists:
            self.notify(_("{target} exists already: nothing written. Export from the summary step to choose "
                          "another file, or: {command}").format(
                target=target, command=f"regwiz export-team-profile --profile {self.profile.path} -o FILE"),
                severity="warning", timeout=12)
            return
        except (ExportError, ProfileError, OSError) as exc:
            self.notify(_("The team profile was not written: {error}").format(error=exc), severity="error", timeout=12)
            return
        self.notify(_("Team profile written: {path}").format(path=written), timeout=10)

    def action_open_logs(self) -> None:
        folder = self.run_logs.directory
        opener = shutil.which("xdg-open") or shutil.which("open")
        if opener and (os.environ.get("DISPLAY") or sys.platform == "darwin"):
            subprocess.Popen([opener, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.copy_to_clipboard(str(folder))
        self.notify(_("Logs: {folder} (path copied)").format(folder=folder), timeout=10)

    def action_write_report(self) -> None:
        self.notify(_("Report written: {path}").format(path=self.run_logs.write_report()), timeout=10)

    async def on_unmount(self) -> None:
        self.startup_finished()  # (if the app ends before its first screen is drawn)
        self.run_logs.write_report()
        if self.transport is not None:
            await self.transport.close()
