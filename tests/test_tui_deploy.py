"""The deploy screen, with Pilot: warnings for unsafe choices, and a real deploy on the testbed."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from app.registry.image import ImageSource
from app.transport.local import LocalTransport
from screens.app import RegwizApp
from screens.deploy import DeployScreen
from screens.plan import PlanScreen
from tests.pilot_helpers import click_when_laid_out
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost


async def open_deploy(app: RegwizApp, pilot, transport, address: str, image: ImageSource | None = None):  # type: ignore[no-untyped-def]
    screen = DeployScreen(app.bus, transport, address, address, image)
    await app.push_screen(screen)
    await pilot.pause()
    return screen


async def test_unsafe_choices_are_warned_and_safe_ones_are_default() -> None:
    app = RegwizApp()
    async with app.run_test(size=(110, 60)) as pilot:
        screen = await open_deploy(app, pilot, LocalTransport(), "203.0.113.10")
        assert screen._choice("tls") == "own-ca" and screen._choice("auth") == "htpasswd"
        assert screen._choice("mode") == "private" and screen.query_one("#port", Input).value == "5000"
        assert not screen.query_one("#tls-warning").display
        screen.query_one("#tls-none").value = True
        screen.query_one("#auth-none").value = True
        screen.query_one("#mode-cache").value = True
        await pilot.pause()
        assert screen.query_one("#tls-warning").display
        assert "HTTP response to HTTPS client" in str(screen.query_one("#tls-warning", Static).render())
        assert screen.query_one("#auth-warning").display
        assert "refuses pushes" in str(screen.query_one("#cache-note", Static).render())


async def test_missing_user_is_refused_before_anything_runs() -> None:
    app = RegwizApp()
    async with app.run_test(size=(110, 60)) as pilot:
        screen = await open_deploy(app, pilot, LocalTransport(), "203.0.113.10")
        screen.query_one("#user", Input).value = ""
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "add at least one registry user" in str(screen.query_one("#deploy-status", Static).render())


async def test_deploy_in_the_tui_on_a_testbed_host(fresh_host, testbed: Testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.registry_helpers import unreachable_probe

    host: TestHost = fresh_host("ecs")
    host.exec("systemctl", "start", "docker")
    assert testbed.images is not None
    image = ImageSource(local_image=testbed.images.registry, probe_url=unreachable_probe(testbed), probe_seconds=2)
    app = RegwizApp()
    async with root_by_password(host, tmp_path) as transport:
        async with app.run_test(size=(120, 60)) as pilot:
            screen = await open_deploy(app, pilot, transport, host.address, image)
            screen.query_one("#user", Input).value = "ci"
            screen.query_one("#user-password", Input).value = "a-Fine-password-9"
            await pilot.press("ctrl+r")
            # (until the modal's Apply button is laid out, not only mounted: a click before lands nowhere)
            await click_when_laid_out(pilot, PlanScreen, "#apply", seconds=30)
            for _ in range(1200):
                if "works" in str(screen.query_one("#deploy-status", Static).render()) or \
                        "failed" in str(screen.query_one("#deploy-status", Static).render()):
                    break
                await pilot.pause(0.1)
            status = str(screen.query_one("#deploy-status", Static).render())
            assert "The registry works" in status, status
            proof_lines = str(screen.query_one("#proof", Static).render()).splitlines()
            assert len(proof_lines) >= 8 and all(line.startswith("✓") for line in proof_lines), proof_lines
            assert app.focused is screen.query_one("#to-clients"), "after the plan modal nothing had the focus"
            assert screen.step_complete
            summary = str(screen.query_one("#summary", Static).render())
            assert f"docker login {host.address}:5000 -u ci" in summary
            log_text = "\n".join(screen.query_one("#log").lines)  # type: ignore[attr-defined]
            assert "a-Fine-password-9" not in log_text and "docker load" in log_text
