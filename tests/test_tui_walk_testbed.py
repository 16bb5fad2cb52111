"""The whole wizard by keyboard alone, as a person meets it: first screen to summary, on real hosts.

No click anywhere: text is typed, Enter moves through forms and acts, Tab reaches buttons in the
modals, ctrl+n moves to the next step. Every wait is for a state of the screen, never a fixed time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from textual.pilot import Pilot
from textual.widgets import Input, Static

from screens.app import RegwizApp
from screens.deploy import DeployScreen
from screens.diagnose import DiagnoseScreen
from screens.hostkey import HostKeyScreen
from screens.plan import PlanScreen
from screens.target import TargetScreen
from tests.testbed.hosts import Testbed, TestHost


async def wait_for(pilot: Pilot, condition: Callable[[], object], seconds: float, what: str) -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"waited {seconds:g} s for {what}; the screen is {pilot.app.screen!r}")


async def tab_to(pilot: Pilot, widget_id: str, key: str = "tab") -> None:
    """Tab (a bounded number of times) until the widget with this id has the focus."""
    for _ in range(40):
        focused = pilot.app.focused
        if focused is not None and focused.id == widget_id:
            return
        await pilot.press(key)
    raise AssertionError(f"Tab never reached #{widget_id}")


def text_of(screen, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one(selector, Static).render())


async def accept_host_key(pilot: Pilot) -> None:
    # (the modal is the screen a moment before its on_mount gives a button the focus: wait for that)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HostKeyScreen) and pilot.app.focused is not None,
                   60, "the host-key question with a button focused")
    assert pilot.app.focused is not None and pilot.app.focused.id == "cancel"  # the safe choice first
    await tab_to(pilot, "accept", "shift+tab")
    await pilot.press("enter")


async def apply_plan(pilot: Pilot, seconds: float = 120) -> str:
    """Review the plan, apply it by keys; returns the diff that was shown."""
    # (the modal is the screen a moment before its widgets are mounted: wait for the diff itself)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PlanScreen) and bool(pilot.app.screen.query("#plan-diff")),
                   seconds, "the plan to review")
    plan = pilot.app.screen
    assert isinstance(plan, PlanScreen)
    shown = str(plan.query_one("#plan-diff", Static).render())
    await tab_to(pilot, "apply")
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, PlanScreen), 10, "the plan to close")
    return shown


async def credentials_by_keys(pilot: Pilot, host: TestHost, connected: str = "Connected to") -> TargetScreen:
    """The first screen by keys; ``connected``: what its status says once connected (the language's words)."""
    app = pilot.app
    target = app.screen
    assert isinstance(target, TargetScreen) and app.focused is target.query_one("#host", Input)
    await pilot.press(*host.address, "enter", "enter", "enter")  # address; port 22 and root as they are
    assert app.focused is target.query_one("#password", Input)
    await pilot.press(*host.root_password, "enter")  # Enter in the last field connects
    await accept_host_key(pilot)
    await wait_for(pilot, lambda: target.step_complete, 60, "the connection")
    assert connected in text_of(target, "#status"), text_of(target, "#status")
    return target


async def test_the_whole_wizard_by_keyboard(fresh_host, testbed: Testbed, regwiz_home: Path,  # type: ignore[no-untyped-def]
                                            monkeypatch) -> None:
    from tests.registry_helpers import unreachable_probe

    server: TestHost = fresh_host("ecs")  # Docker installed, not running: a fix to apply on the way
    client: TestHost = fresh_host("linux_client")
    assert testbed.images is not None
    monkeypatch.setenv("REGWIZ_UPLOAD_IMAGE", testbed.images.registry)
    monkeypatch.setenv("REGWIZ_HUB_PROBE_URL", unreachable_probe(testbed))
    app = RegwizApp()
    async with app.run_test(size=(120, 40)) as pilot:
        # 1. Credentials.
        await credentials_by_keys(pilot, server)
        await pilot.press("ctrl+n")

        # 2. Diagnose: Docker is stopped; its fix is applied by keys, then the diagnosis runs again.
        await wait_for(pilot, lambda: isinstance(app.screen, DiagnoseScreen), 5, "the diagnosis screen")
        diagnose = app.screen
        assert isinstance(diagnose, DiagnoseScreen)
        await wait_for(pilot, lambda: diagnose.step_complete, 120, "the diagnosis")
        assert diagnose.results["docker"].status.value != "ok", diagnose.results["docker"]
        assert app.focused is diagnose.query_one("#checks")
        await pilot.press("down")  # the Docker row
        assert diagnose.selected == "docker"
        await pilot.press("f")
        await apply_plan(pilot)
        await wait_for(pilot, lambda: "docker" in diagnose.results and
                       diagnose.results["docker"].status.value == "ok", 180, "Docker to run after the fix")
        await wait_for(pilot, lambda: len(diagnose.results) == len(diagnose.checks), 120, "the diagnosis again")
        await pilot.press("ctrl+n")

        # 3. Deploy: a user added with Enter, the plan applied, proven from this machine.
        await wait_for(pilot, lambda: isinstance(app.screen, DeployScreen), 5, "the deploy screen")
        deploy = app.screen
        assert isinstance(deploy, DeployScreen) and app.focused is deploy.query_one("#port", Input)
        await tab_to(pilot, "user-password")
        await pilot.press(*"walk-Pass-42", "enter")
        assert "ci" in deploy.users
        await pilot.press("ctrl+r")
        await apply_plan(pilot, 60)
        await wait_for(pilot, lambda: deploy.step_complete or "failed" in text_of(deploy, "#deploy-status") or
                       "rolled" in text_of(deploy, "#deploy-status"), 600, "the deploy and its proof")
        assert "The registry works" in text_of(deploy, "#deploy-status"), text_of(deploy, "#deploy-status")
        assert app.focused is deploy.query_one("#to-clients")
        await pilot.press("ctrl+n")

        # 4. Clients and 5. Summary.
        await walk_clients_and_summary(pilot, client)

        # Later: the dashboard of the profile the wizard saved on the way, opened from the summary.
        await dashboard_from_the_saved_profile(pilot, server, client, registry_password="walk-Pass-42")


async def dashboard_from_the_saved_profile(pilot: Pilot, server: TestHost, client: TestHost,
                                           registry_password: str) -> None:
    from screens.dashboard import DashboardScreen
    from screens.secrets import SecretsScreen
    from app.steps import Status

    app = pilot.app
    await pilot.press("d")
    await wait_for(pilot, lambda: isinstance(app.screen, SecretsScreen), 10, "the dashboard to ask for secrets")
    secrets = app.screen
    assert isinstance(secrets, SecretsScreen)
    for index, needed in enumerate(secrets.needed):  # the profile holds no secret: each is typed
        assert app.focused is secrets.query_one(f"#secret-{index}", Input), (index, app.focused)
        label = needed.label
        typed = (registry_password if "registry user" in label else
                 server.root_password if server.address in label else
                 client.root_password if client.address in label else None)
        assert typed is not None, label
        await pilot.press(*typed, "enter")  # Enter in the last field starts the checks
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), 10, "the dashboard")
    dashboard = app.screen
    assert isinstance(dashboard, DashboardScreen)
    client_row = next((key for key in dashboard.rows if client.address in key), None)
    await wait_for(pilot, lambda: dashboard.rows and all(r.status not in (Status.PENDING, Status.RUNNING)
                                                         for r in dashboard.rows.values()), 240, "every row")
    assert client_row is not None, list(dashboard.rows)
    bad = {k: (r.status.value, r.detail) for k, r in dashboard.rows.items() if r.status is not Status.OK}
    assert not bad, bad
    await pilot.press("escape")  # back to the summary
    await wait_for(pilot, lambda: not isinstance(app.screen, DashboardScreen), 5, "Escape to leave the dashboard")


async def walk_clients_and_summary(pilot: Pilot, client: TestHost) -> None:
    """Steps 4 and 5 by keys: a client added, configured and proven; the summary read."""
    from screens.clients import ClientsScreen
    from screens.summary import SummaryScreen

    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen), 5, "the clients screen")
    clients = app.screen
    assert isinstance(clients, ClientsScreen)
    assert app.focused is clients.query_one("#client-host", Input)
    await pilot.press(*client.address, "enter")
    # user (root) and port (22) as they are, then the password; Enter in the last field adds the client.
    while app.focused is not clients.query_one("#client-password", Input):
        await pilot.press("enter")
    await pilot.press(*client.root_password, "enter")
    await wait_for(pilot, lambda: len(clients.forms) == 1, 5, "the client in the list")
    await pilot.press("ctrl+r")
    await accept_host_key(pilot)
    diff = await apply_plan(pilot, 120)
    assert "ca.crt" in diff, diff
    await wait_for(pilot, lambda: clients.step_complete or "0 of 1" in text_of(clients, "#clients-status"),
                   300, "the client's pull")
    assert text_of(clients, "#clients-status").startswith("1 of 1 clients pull"), text_of(clients, "#clients-status")
    await pilot.press("ctrl+n")

    await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), 5, "the summary")
    summary = app.screen
    shown = "\n".join(str(w.render()) for w in summary.query(Static))
    assert client.address in shown and "pulled" in shown
    assert "docker login" in shown and "SHA256" in shown.upper()
