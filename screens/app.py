"""The Textual application: a wizard of screens over the engine in ``app``."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from app.events import EventBus
from app.transport import Transport
from screens.target import TargetScreen

STEPS = ("Credentials", "Diagnose", "Deploy", "Clients", "Summary")

class RegwizApp(App[None]):
    TITLE = "regwiz"
    SUB_TITLE = "a private Docker registry, step by step"
    CSS_PATH = "regwiz.tcss"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self.bus = EventBus()
        self.transport: Transport | None = None
        self.host_label = ""
        self.registry_choices = None  # DeployChoices once the registry is deployed

    def on_mount(self) -> None:
        self.push_screen(TargetScreen(self.bus))

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

    def registry_address(self) -> str:
        """The address clients use: the one regwiz connected to (this machine: loopback)."""
        target = getattr(self.transport, "target", None)
        return target.host if target is not None else "127.0.0.1"

    def show_deploy(self) -> None:
        from screens.deploy import DeployScreen

        assert self.transport is not None
        self.push_screen(DeployScreen(self.bus, self.transport, self.host_label, self.registry_address()))

    def show_clients(self) -> None:
        from app.registry.prove import client_target
        from screens.clients import ClientsScreen

        assert self.registry_choices is not None
        self.push_screen(ClientsScreen(self.bus, client_target(self.registry_choices)))

    async def on_unmount(self) -> None:
        if self.transport is not None:
            await self.transport.close()
