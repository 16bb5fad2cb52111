"""The clients screen, with Pilot: a list of machines configured at once, against the testbed.

Every test drives the screen by keys and waits for the screen's state (never for a fixed time).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

import pytest
from rich.cells import cell_len
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, Log, Static

from app.clients.configure import ClientResult
from app.clients.model import ClientKind, RegistryTarget
from app.profiles import ClientProfile
from app.steps import Status
from app.transport.hostkeys import KnownHostsStore
import screens.app
from screens.app import RegwizApp
from screens.clients import PASSWORD_NEEDED, ClientsScreen, hosts_from_text, ssh_config_hosts
from screens.hostkey import HostKeyScreen
from screens.plan import PlanScreen
from screens.wizard import GoToStep, StepDone
from tests.testbed.hosts import Testbed, TestHost

REGISTRY = RegistryTarget("203.0.113.10", 5000, True, None)
LONG_DETAIL = ("x509: certificate signed by unknown authority: the client does not trust the registry's CA; "
               "configure it again (ctrl+r) or check /etc/docker/certs.d/203.0.113.10:5000/ca.crt")


class RecordingApp(RegwizApp):
    """The app, keeping the step messages it gets (and not opening the summary, not this test's)."""

    CSS_PATH = str(Path(screens.app.__file__).with_name("regwiz.tcss"))  # (relative paths: to this file)

    def __init__(self) -> None:
        super().__init__()
        self.went_to: list[int] = []
        self.done: list[int] = []

    def on_go_to_step(self, message: GoToStep) -> None:
        self.went_to.append(message.index)
        message.prevent_default()  # (RegwizApp's own handler would open the next step)

    def on_step_done(self, message: StepDone) -> None:
        self.done.append(message.index)


async def wait_until(pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Until the condition holds (checked between frames); a timeout fails with what was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def text_of(widget: Static) -> str:
    return str(widget.render())


def status(screen: ClientsScreen) -> str:
    return text_of(screen.query_one("#clients-status", Static))


def screen_text(pilot: Pilot, region: Region) -> str:
    """What the terminal shows inside a region, its lines joined by spaces."""
    strips = pilot.app.screen._compositor.render_strips()
    lines = ["".join(segment.text for segment in strip) for strip in strips]
    return " ".join(line[region.x:region.right].strip() for line in lines[region.y:region.bottom])


def visible(widget: Static, within: Region) -> bool:
    return bool(widget.region) and within.contains_region(widget.region)


async def open_screen(pilot: Pilot, registry: RegistryTarget = REGISTRY, **kwargs: object) -> ClientsScreen:
    screen = ClientsScreen(pilot.app.bus, registry, **kwargs)  # type: ignore[arg-type]
    await pilot.app.push_screen(screen)
    await wait_until(pilot, lambda: pilot.app.focused is screen.query_one("#client-host"), "the address focused")
    return screen


async def type_client(pilot: Pilot, host: str, password: str = "", port: str | None = None) -> None:
    """Address, Enter, (user), Enter, (port), Enter, password, Enter: the client is added."""
    await pilot.press(*host, "enter", "enter")
    if port is not None:
        await pilot.press("ctrl+a", "ctrl+k", *port)  # (select none: clear to the end from the start)
    await pilot.press("enter", *password, "enter")


def test_host_lists_from_ssh_config_and_text(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host web1 web2\n  HostName 10.0.0.1\nHost *.internal\nhost db\n")
    assert ssh_config_hosts(config) == ["web1", "web2", "db"]
    assert hosts_from_text("# fleet\n10.0.0.1\nroot@10.0.0.2:2222  # db\n\n") == ["10.0.0.1", "root@10.0.0.2:2222"]


async def test_no_clients_is_refused() -> None:
    app = RegwizApp()
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "add at least one client" in status(screen).lower(), "the refusal")


async def test_the_address_has_the_focus_on_arrival() -> None:
    """Defect 1: nothing had the focus; typed text was lost."""
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = ClientsScreen(app.bus, REGISTRY)
        await app.push_screen(screen)
        await pilot.press(*"198.51.100.7")
        await wait_until(pilot, lambda: screen.query_one("#client-host", Input).value == "198.51.100.7",
                         "the typed address in the address field")
        assert screen.query_one("#client-user", Input).value == "root"
        assert screen.query_one("#client-port", Input).value == "22"


async def test_enter_moves_through_the_fields_and_adds_the_client() -> None:
    """Defect 2: Enter in a field did nothing (only the Add button acted)."""
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        order = []
        await pilot.press(*"198.51.100.7")
        for _ in range(3):
            await pilot.press("enter")
            order.append(app.focused.id if app.focused else None)
        assert order == ["client-user", "client-port", "client-password"]
        await pilot.press(*"s3cret pw", "enter")
        table = screen.query_one("#clients", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the client added")
        assert app.focused is screen.query_one("#client-host", Input)
        assert screen.query_one("#client-host", Input).value == ""
        form = screen.forms["root@198.51.100.7"]
        assert form.password is not None and form.password.reveal() == "s3cret pw"
        assert "s3cret pw" not in app.bus.redactor("the password is s3cret pw")
        assert "Added root@198.51.100.7" in status(screen)


async def test_enter_in_the_hosts_file_field_adds_its_hosts(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# fleet\n10.0.0.1\ndeploy@10.0.0.2:2222\nroot@bad host!\n10.0.0.3:port\n")
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        screen.query_one("#hosts-file-path", Input).focus()
        await pilot.press(*str(hosts), "enter")
        table = screen.query_one("#clients", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, "the file's two good hosts")
        assert screen.forms["deploy@10.0.0.2"].port == 2222
        assert "Skipped entries 3, 4" in status(screen), status(screen)
        # A path with no file: the error under the field says what to do.
        screen.query_one("#hosts-file-path", Input).value = str(tmp_path / "missing.txt")
        await pilot.press("enter")
        error = screen.query_one("#hosts-file-path-error", Static)
        await wait_until(pilot, lambda: error.display and "no file at" in text_of(error), "the file's error")


@pytest.mark.parametrize("port, expected", [("ab", "the port is a number, 1 to 65535"),
                                            ("", "the port is a number, 1 to 65535"),
                                            ("70000", "the port is a number, 1 to 65535")])
async def test_a_wrong_port_is_refused_next_to_the_field(port: str, expected: str) -> None:
    """Defect 3: a port of letters was accepted silently (22 was used)."""
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await type_client(pilot, "198.51.100.7", "pw", port=port)
        error = screen.query_one("#client-port-error", Static)
        await wait_until(pilot, lambda: error.display and expected in text_of(error), "the port's error")
        assert screen.query_one("#clients", DataTable).row_count == 0 and not screen.forms
        assert app.focused is screen.query_one("#client-port", Input)
        main = screen.query_one("#clients-main")
        await wait_until(pilot, lambda: visible(error, main.region), "the error in view")
        assert expected.split(",")[0] in screen_text(pilot, error.region)
        assert "fix the fields marked in red" in status(screen)
        # Corrected, the same Enter adds it and the error goes.
        await pilot.press("ctrl+a", "ctrl+k", "2", "2", "enter", "enter")
        await wait_until(pilot, lambda: screen.query_one("#clients", DataTable).row_count == 1, "the client added")
        assert not error.display


async def test_a_wrong_user_is_refused_next_to_the_field() -> None:
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await pilot.press(*"198.51.100.7", "enter", "ctrl+a", "ctrl+k", *"bad user", "enter", "enter", "enter")
        error = screen.query_one("#client-user-error", Static)
        await wait_until(pilot, lambda: error.display and "not a valid user name" in text_of(error),
                         "the user's error")
        assert not screen.forms


async def test_an_empty_address_asks_for_the_clients_address() -> None:
    """Defect 8: the advice spoke of the server's address."""
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("enter", "enter", "enter", "enter")
        error = screen.query_one("#client-host-error", Static)
        await wait_until(pilot, lambda: error.display, "the address's error")
        assert text_of(error) == "enter the client's address or ~/.ssh/config alias"
        assert "server" not in text_of(error)
        assert app.focused is screen.query_one("#client-host", Input)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_form_fits(size: tuple[int, int]) -> None:
    """Defect 4: labels ran together, the file field and its button were cut, the address too narrow."""
    app = RegwizApp()
    async with app.run_test(size=size) as pilot:
        screen = await open_screen(pilot)
        main = screen.query_one("#clients-main")
        content = main.content_region
        form = screen.query_one("#add-client-form")
        labels = [label for label in form.query(Label) if label.has_class("field-label")]
        assert len(labels) == 5
        for label in labels:
            text = str(label.render())
            assert label.region.width >= cell_len(text), f"{text!r} is cut at {size}"
            assert content.contains_region(label.region), f"{text!r} is outside the view at {size}"
        rows: dict[int, list[Label]] = {}
        for label in labels:
            rows.setdefault(label.region.y, []).append(label)
        for row in rows.values():
            row.sort(key=lambda label: label.region.x)
            for left, right in zip(row, row[1:], strict=False):
                gap = right.region.x - (left.region.x + cell_len(str(left.render())))
                assert gap >= 1, f"{left.render()!r} runs into {right.render()!r} at {size}"
        for button in screen.query(Button):
            if button.id in ("add-client", "add-local", "add-ssh-config", "add-file", "configure", "tunnel"):
                label = str(button.label)
                assert button.region.width >= cell_len(label) + 2, f"{label!r} is cut at {size}"
                assert button.region.right <= content.right, f"{label!r} reaches past the view at {size}"
        file_field = screen.query_one("#hosts-file-path", Input)
        assert file_field.region.width >= 20 and file_field.region.right <= content.right
        assert file_field.region.y != screen.query_one("#add-ssh-config").region.y  # its own row
        host = screen.query_one("#client-host", Input)
        await pilot.press(*"198.51.100.250")
        await wait_until(pilot, lambda: host.value == "198.51.100.250", "the address typed")
        assert "198.51.100.250" in screen_text(pilot, host.region)


async def test_fields_show_real_defaults_and_placeholders_read_as_hints() -> None:
    """Defect 6: a cleared Port showed a grey 22, a cleared User a grey root."""
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        user, port = screen.query_one("#client-user", Input), screen.query_one("#client-port", Input)
        assert (user.value, port.value) == ("root", "22")
        for field in screen.query(Input):
            assert field.placeholder == "" or field.placeholder.startswith("e.g. "), field.placeholder
        await pilot.press("enter", "ctrl+a", "ctrl+k")
        await wait_until(pilot, lambda: user.value == "", "the user cleared")
        assert "root" not in screen_text(pilot, user.region)


async def test_saved_clients_appear_and_a_missing_password_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 5: the profile's clients did not appear; a corrected password was silently ignored."""
    monkeypatch.setenv("REGWIZ_TEST_CLIENT_PW", "from-the-env")
    monkeypatch.delenv("REGWIZ_TEST_UNSET_PW", raising=False)
    saved = [ClientProfile(host="10.0.0.1", password_env="REGWIZ_TEST_CLIENT_PW", kind="linux"),
             ClientProfile(host="10.0.0.2", port=2222, user="deploy", password_env="REGWIZ_TEST_UNSET_PW",
                           kind="sysv"),
             ClientProfile(host="10.0.0.3")]
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, saved=saved)
        table = screen.query_one("#clients", DataTable)
        assert table.row_count == 3
        first = screen.forms["root@10.0.0.1"]
        assert first.password is not None and first.password.reveal() == "from-the-env"
        assert screen.kinds["root@10.0.0.1"] is ClientKind.LINUX
        assert "from-the-env" not in app.bus.redactor("from-the-env")
        assert screen.rows["deploy@10.0.0.2"].detail == PASSWORD_NEEDED
        assert screen.rows["root@10.0.0.3"].detail == PASSWORD_NEEDED
        assert screen.rows["root@10.0.0.1"].detail == ""
        # Select the row (keys): the form is filled in and the password field focused.
        table.focus()
        await wait_until(pilot, lambda: app.focused is table, "the table focused")
        await pilot.press("down", "enter")
        password = screen.query_one("#client-password", Input)
        await wait_until(pilot, lambda: app.focused is password, "the password field focused")
        assert screen.query_one("#client-host", Input).value == "10.0.0.2"
        assert screen.query_one("#client-user", Input).value == "deploy"
        assert screen.query_one("#client-port", Input).value == "2222"
        await pilot.press(*"typed-pw", "enter")
        await wait_until(pilot, lambda: screen.rows["deploy@10.0.0.2"].detail == "", "the row replaced")
        assert table.row_count == 3
        form = screen.forms["deploy@10.0.0.2"]
        assert form.password is not None and form.password.reveal() == "typed-pw" and form.port == 2222
        assert screen.kinds["deploy@10.0.0.2"] is ClientKind.SYSV
        assert "in the list already" in status(screen)


async def test_readding_a_client_replaces_it_and_says_so() -> None:
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await type_client(pilot, "198.51.100.7", "wrong")
        await wait_until(pilot, lambda: "root@198.51.100.7" in screen.forms, "the first add")
        await type_client(pilot, "198.51.100.7", "right", port="2200")
        await wait_until(pilot, lambda: "in the list already" in status(screen), "the replacement said")
        assert screen.query_one("#clients", DataTable).row_count == 1
        form = screen.forms["root@198.51.100.7"]
        assert form.password is not None and form.password.reveal() == "right" and form.port == 2200


async def test_long_details_wrap_and_the_results_stay_in_view() -> None:
    """Defect 7: the detail column was cut at 80x24; the summary and status must stay in view."""
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await type_client(pilot, "198.51.100.7")
        await type_client(pilot, "build-runner-01.internal")
        table = screen.query_one("#clients", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, "two clients")
        results = [ClientResult("root@198.51.100.7", ClientKind.LINUX, Status.OK, "pulled it in 1.2 s"),
                   ClientResult("root@build-runner-01.internal", ClientKind.SYSV, Status.FAILURE, LONG_DETAIL)]
        for result in results:
            screen._update_row(result)
        # The table's columns fit its width; the selected row's detail is shown in full below it.
        widths = sum(column.get_render_width(table) for column in table.columns.values())
        assert widths <= table.region.width
        table.focus()
        await wait_until(pilot, lambda: app.focused is table, "the table focused")
        await pilot.press("down")
        detail = screen.query_one("#client-detail", Static)
        main = screen.query_one("#clients-main")
        await wait_until(pilot, lambda: LONG_DETAIL in text_of(detail) and visible(detail, main.region),
                         "the long detail in view")
        assert " ".join(LONG_DETAIL.split()) in " ".join(screen_text(pilot, detail.region).split())
        # The outcome: status and summary wrapped and scrolled into view.
        screen.show_results(results)
        status_widget = screen.query_one("#clients-status", Static)
        await wait_until(pilot, lambda: visible(status_widget, main.region), "the status in view")
        shown = " ".join(screen_text(pilot, status_widget.region).split())
        assert shown == " ".join(status(screen).split()) and shown.startswith("1 of 2 clients pull")
        summary = screen.query_one("#clients-summary", Static)
        assert summary.region.right <= main.region.right and summary.region.height >= 3
        assert not screen.step_complete  # one client does not pull


async def test_every_client_pulling_completes_the_step() -> None:
    app = RecordingApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await type_client(pilot, "198.51.100.7")
        await wait_until(pilot, lambda: screen.forms, "a client")
        await pilot.press("ctrl+n")  # (not done yet: nothing is asked)
        assert app.went_to == [] and not screen.step_complete
        screen.show_results([ClientResult("root@198.51.100.7", ClientKind.LINUX, Status.OK, "pulled")])
        await wait_until(pilot, lambda: app.done == [3], "StepDone(3)")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.went_to == [4], "GoToStep(4)")


async def test_configure_two_clients_by_keys(testbed: Testbed, tls_registry: RegistryTarget) -> None:
    """Acceptance: two real clients typed in, configured with keys only (host-key and plan modals
    included) to "2 of 2 clients pull", then ctrl+n asks for the summary step."""
    hosts: list[TestHost] = testbed.start("linux_client", "sysv_client")
    try:
        # One host is known already; the other's key is shown and accepted in the modal.
        store = KnownHostsStore.default()
        store.own.parent.mkdir(parents=True, exist_ok=True)
        hosts[0].write_known_hosts(store.own)
        app = RecordingApp()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_screen(pilot, tls_registry)
            table = screen.query_one("#clients", DataTable)
            for count, host in enumerate(hosts, 1):
                await type_client(pilot, host.address, host.root_password)
                await wait_until(pilot, lambda count=count: table.row_count == count, f"client {count} added")
                assert app.focused is screen.query_one("#client-host", Input)
            await pilot.press("ctrl+n")  # (not done yet: nothing happens)
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: isinstance(app.screen, (HostKeyScreen, PlanScreen)) or
                             "Nothing was changed" in status(screen), "the host-key modal", timeout=120)
            assert isinstance(app.screen, HostKeyScreen), status(screen)
            modal = app.screen
            # The safe choice (Cancel) has the focus; shift+tab reaches Accept, Enter presses it.
            # (a modal just pushed may not be composed yet: its buttons are waited for, not assumed)
            await wait_until(pilot, lambda: bool(modal.query("#cancel")) and app.focused is modal.query_one("#cancel"),
                             "Cancel focused")
            await pilot.press("shift+tab")
            await wait_until(pilot, lambda: bool(modal.query("#accept")) and app.focused is modal.query_one("#accept"),
                             "Accept focused")
            await pilot.press("enter")
            # (the modal is the screen a moment before its widgets are mounted: wait for the diff itself)
            await wait_until(pilot, lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.query("#plan-diff")),
                             "the plan modal", timeout=180)
            plan = app.screen
            assert "ca.crt" in text_of(plan.query_one("#plan-diff", Static))
            await wait_until(pilot, lambda: app.focused is plan.query_one("#cancel"), "Cancel focused")
            await pilot.press("shift+tab")
            await wait_until(pilot, lambda: app.focused is plan.query_one("#apply"), "Apply focused")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen is screen, "the plan confirmed")
            await wait_until(pilot, lambda: "clients pull" in status(screen), "the outcome", timeout=300)
            assert status(screen).startswith("2 of 2 clients pull"), (status(screen), screen.rows)
            summary = text_of(screen.query_one("#clients-summary", Static))
            assert "linux" in summary and "sysv" in summary and "pulled" in summary
            assert screen.step_complete and app.went_to == []
            log = screen.query_one("#log", Log)
            await wait_until(pilot, lambda: any("docker pull" in line for line in log.lines), "the log")
            for host in hosts:
                assert host.root_password not in "\n".join(log.lines)
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: app.went_to == [4], "GoToStep(4) posted")
            # Tunnel mode for the selected client: its localhost:5000 leads to the registry.
            table.move_cursor(row=0)
            screen.query_one("#tunnel", Button).focus()
            await wait_until(pilot, lambda: app.focused is screen.query_one("#tunnel"), "Tunnel focused")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Tunnel open" in status(screen), "the tunnel", timeout=60)
            assert f"docker pull localhost:{tls_registry.port}/" in \
                text_of(screen.query_one("#clients-summary", Static))
            # In a thread: the tunnel's traffic is carried by this test's own event loop.
            answer = await asyncio.to_thread(hosts[0].exec, "curl", "-sk", "-o", "/dev/null", "-w",
                                             "%{http_code}", f"https://127.0.0.1:{tls_registry.port}/v2/")
            assert answer.stdout == "401"  # the registry itself answers through the tunnel
    finally:
        for host in hosts:
            testbed.remove(host)
