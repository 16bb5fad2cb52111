"""Every screen with a live log gets its own scope's lines, and only those, while it is mounted.

The subscription lives in one base (screens.livelog.LiveLogScreen) whose @on(Mount)/@on(Unmount)
handlers run beside each screen's own on_mount/on_unmount (Textual calls the handlers of every
class in the MRO): each screen is checked here, with the events of its scope and of another one.
"""

from __future__ import annotations

from typing import Callable

import pytest
from textual.widgets import Log

from app.clients.model import RegistryTarget
from app.events import EventKind, Scope
from app.registry.client import RegistryClient, RegistryEndpoint
from app.registry.ops import RegistrySource
from app.transport.local import LocalTransport
from screens.app import RegwizApp
from screens.livelog import LiveLogScreen


def _diagnose(app: RegwizApp) -> LiveLogScreen:
    from screens.diagnose import DiagnoseScreen

    return DiagnoseScreen(app.bus, LocalTransport(), "this machine", autorun=False)


def _deploy(app: RegwizApp) -> LiveLogScreen:
    from screens.deploy import DeployScreen

    return DeployScreen(app.bus, LocalTransport(), "this machine", "127.0.0.1")


def _clients(app: RegwizApp) -> LiveLogScreen:
    from screens.clients import ClientsScreen

    return ClientsScreen(app.bus, RegistryTarget("203.0.113.10", 5000, True, None))


def _dashboard(app: RegwizApp) -> LiveLogScreen:
    from app.profiles import Profile, ServerProfile
    from screens.dashboard import DashboardScreen

    return DashboardScreen(app.bus, Profile(server=ServerProfile(host="203.0.113.10")), autorun=False)


def _registry(app: RegwizApp) -> LiveLogScreen:
    from screens.registry import RegistryScreen

    source = RegistrySource(RegistryClient(RegistryEndpoint("203.0.113.10", 5000, True, None, "ci", None)),
                            "/var/lib/registry", 5000, True, "https://203.0.113.10:5000")
    return RegistryScreen(app.bus, source, LocalTransport(), "203.0.113.10", autoload=False)


def _onboard(app: RegwizApp) -> LiveLogScreen:
    from screens.onboard import OnboardScreen

    return OnboardScreen(app.bus)


# Each screen, a scope it shows, and one it does not.
CASES: dict[str, tuple[Callable[[RegwizApp], LiveLogScreen], Scope, Scope]] = {
    "diagnose": (_diagnose, Scope("diagnose", "system"), Scope("deploy")),
    "diagnose fix": (_diagnose, Scope("fix", "system"), Scope("diagnose", "no-such-check")),
    "deploy": (_deploy, Scope("deploy"), Scope("client", "web1")),
    "prove": (_deploy, Scope("prove"), Scope("diagnose", "system")),
    "clients": (_clients, Scope("client", "root@198.51.100.7"), Scope("deploy")),
    "dashboard": (_dashboard, Scope("dashboard"), Scope("deploy")),
    "dashboard client": (_dashboard, Scope("client", "web1"), Scope("registry")),
    "registry": (_registry, Scope("registry"), Scope("dashboard")),
    "onboard": (_onboard, Scope("onboard"), Scope("deploy")),
    "onboard client": (_onboard, Scope("client", "this machine"), Scope("registry")),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_screen_shows_its_own_scope_and_stops_listening_when_closed(case: str) -> None:
    make, own, other = CASES[case]
    app = RegwizApp()
    async with app.run_test(size=(120, 50)) as pilot:
        sinks_before = len(app.bus._sinks)
        screen = make(app)
        await app.push_screen(screen)
        await pilot.pause()
        assert len(app.bus._sinks) == sinks_before + 1  # subscribed by the base, once
        if own.step == "client":
            # the clients screen shows the selected client's log: select the one the event is for
            if hasattr(screen, "selected") and hasattr(screen, "rows"):
                screen.selected = own.part
        app.bus.emit(EventKind.INFO, f"mine {case}", scope=own, host="h")
        app.bus.emit(EventKind.INFO, f"not mine {case}", scope=other, host="h")
        await pilot.pause()
        lines = list(screen.query_one("#log", Log).lines)
        assert f"-- mine {case}" in lines, lines
        assert not any("not mine" in line for line in lines), lines
        app.pop_screen()
        await pilot.pause()
        assert len(app.bus._sinks) == sinks_before  # unsubscribed on unmount


async def test_the_first_screen_shows_the_credentials_step() -> None:
    app = RegwizApp()
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LiveLogScreen)
        app.bus.emit(EventKind.INFO, "connecting", scope=Scope("credentials"), host="h")
        app.bus.emit(EventKind.INFO, "a deploy line", scope=Scope("deploy"), host="h")
        await pilot.pause()
        assert list(screen.query_one("#log", Log).lines) == ["-- connecting"]


def test_a_scope_reads_and_writes_as_the_log_files_name_it() -> None:
    assert Scope.parse("client.root@10.0.0.5") == Scope("client", "root@10.0.0.5")
    assert str(Scope("client", "root@10.0.0.5")) == "client.root@10.0.0.5"
    assert str(Scope("deploy")) == "deploy" and Scope.parse("deploy") == Scope("deploy")


BATCHES: dict[str, list[str]] = {
    "printable ASCII": [f"{i:06d} step output: compiling module" for i in range(2000)],
    "with empty lines": ["first", "", "third", ""],
    "a line holding a newline": ["one\ntwo", "three"],
    "carriage return and form feed": ["progress 10%\rprogress 20%", "page\x0cnext"],
    "wide characters and a tab": ["镜像仓库已就绪 registry ready", "col1\tcol2", "ascii"],
    "a long line after short ones": ["a", "b" * 300],
}


@pytest.mark.parametrize("batch", list(BATCHES))
async def test_the_live_log_holds_what_textuals_log_would(batch: str) -> None:
    """LiveLog writes a batch at once (screens/livelog.py); its lines and width are those of Textual's Log."""
    from textual.app import App, ComposeResult

    from screens.livelog import LiveLog

    class Both(App[None]):
        def compose(self) -> ComposeResult:
            yield LiveLog(id="live", highlight=False)
            yield Log(id="plain", highlight=False)

    app = Both()
    async with app.run_test(size=(80, 30)) as pilot:
        live, plain = app.query_one("#live", LiveLog), app.query_one("#plain", Log)
        for part in (["before"], BATCHES[batch]):
            live.write_lines(part)
            plain.write_lines(part)
        await pilot.pause(0.3)  # Log measures widths in a thread worker; LiveLog flushes within 0.1 s
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert list(live.lines) == list(plain.lines)
        assert live.virtual_size.width == plain.virtual_size.width


async def test_plain_batches_from_the_splitter_show_as_in_textuals_log() -> None:
    """Lines the splitter marked PlainLines skip LiveLog's checks: the lines (empty ones dropped, as Log
    does) and the width are still those of Textual's Log, and a batch that is not plain in the same flush
    is still checked (a tab, a wide character)."""
    from textual.app import App, ComposeResult

    from app.events import PlainLines
    from app.transport.base import LineSplitter
    from screens.livelog import LiveLog

    class Both(App[None]):
        def compose(self) -> ComposeResult:
            yield LiveLog(id="live", highlight=False)
            yield Log(id="plain", highlight=False)

    splitter = LineSplitter()
    batches = [splitter.feed(b"first\n\nthird line, longer than the first\n"), splitter.feed(b"x" * 90 + b"\n"),
               splitter.feed("镜像\tcol\n".encode())]
    assert [type(batch) is PlainLines for batch in batches] == [True, True, False]
    app = Both()
    async with app.run_test(size=(80, 30)) as pilot:
        live, plain = app.query_one("#live", LiveLog), app.query_one("#plain", Log)
        for done in (1, 2, 3):  # plain alone, then both kinds waiting for the same flush
            for batch in batches[done - 1:done]:
                live.write_lines(batch)
                plain.write_lines(list(batch))
            if done != 2:
                await pilot.pause(0.3)
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert list(live.lines) == list(plain.lines)
                assert live.virtual_size.width == plain.virtual_size.width


async def test_a_flooded_live_log_writes_four_times_a_second_then_ten_again() -> None:
    """A flush of FLOOD_LINES or more makes the next one wait FLOOD_FLUSH_SECONDS; a smaller one, FLUSH_SECONDS.
    Nothing is lost or reordered either way."""
    from textual.app import App, ComposeResult

    from screens.livelog import LiveLog

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield LiveLog(id="live", highlight=False)

    def interval(log: LiveLog) -> float:
        assert log._flush_timer is not None
        return float(log._flush_timer._interval)

    app = One()
    async with app.run_test(size=(80, 30)) as pilot:
        log = app.query_one("#live", LiveLog)
        log.write_lines(["quiet"])
        assert interval(log) == LiveLog.FLUSH_SECONDS
        log.write_lines([f"flood {i}" for i in range(LiveLog.FLOOD_LINES)])
        log.flush()
        log.write_lines(["after the flood"])
        assert interval(log) == LiveLog.FLOOD_FLUSH_SECONDS
        # Written by the timer alone (no flush here). Waiting for it, not a fixed pause: on a loaded machine a
        # timer fires late, and when is not what this test is about.
        for _tick in range(200):
            if log._flush_timer is None:
                break
            await pilot.pause(0.05)
        assert log._flush_timer is None and log._pending == []
        log.write_lines(["quiet again"])
        assert interval(log) == LiveLog.FLUSH_SECONDS
        expected = ["quiet", *[f"flood {i}" for i in range(LiveLog.FLOOD_LINES)], "after the flood", "quiet again"]
        assert list(log.lines) == expected


async def test_the_lines_in_view_are_painted_as_in_textuals_log() -> None:
    """A flush marks dirty only the new lines in view (screens/livelog.py): after a few lines, a flood and a
    few more, the log shows the same rows as Textual's Log, scrolled to the same end."""
    from textual.app import App, ComposeResult
    from textual.containers import Horizontal

    from app.events import PlainLines
    from screens.livelog import LiveLog

    class Both(App[None]):
        def compose(self) -> ComposeResult:
            with Horizontal():
                yield LiveLog(id="live", highlight=False)
                yield Log(id="plain", highlight=False)

    app = Both()
    async with app.run_test(size=(100, 20)) as pilot:
        live, plain = app.query_one("#live", LiveLog), app.query_one("#plain", Log)

        def shown(log: Log) -> list[str]:
            return [log.render_line(y).text for y in range(log.scrollable_content_region.height)]

        batches = [["first", "second"], ["third"], [f"flood line {i}" for i in range(3000)], ["after"], ["last"]]
        for batch in batches:
            live.write_lines(PlainLines(batch))
            plain.write_lines(batch)
            live.flush()
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert live.scroll_offset == plain.scroll_offset
            assert shown(live) == shown(plain) and any(batch[-1] in row for row in shown(live)), batch
