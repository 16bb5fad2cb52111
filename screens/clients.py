"""The clients screen: a list of machines, configured at once, each with its own log and status."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Log, Select, Static

from app.clients.configure import ClientResult, ClientSpec, configure_clients, summary_table
from app.clients.model import ClientKind, RegistryTarget
from app.clients.testimage import ensure_test_image
from app.registry.health import RegistryDown, wait_for_registry
from app.events import EventBus, LogEvent
from app.redact import Secret
from app.remote_files import FileChange
from app.steps import Plan, Status
from app.targets import HostForm, parse_number, validate_host
from app.clients.tunnel import Tunnel, open_client_tunnel
from app.transport import Transport, TransportError
from app.transport.hostkeys import HostKeyUnknown
from screens.hostkey import HostKeyScreen
from screens.livelog import CopiesLog, LiveLog
from screens.plan import PlanScreen
from screens.steps import StepsPanel

KIND_OPTIONS = [("detect", "detect")] + [(k.value, k.value) for k in ClientKind if k is not ClientKind.UNKNOWN]


def ssh_config_hosts(path: Path | None = None) -> list[str]:
    """Host aliases from ~/.ssh/config (no wildcards)."""
    path = path or Path("~/.ssh/config").expanduser()
    if not path.is_file():
        return []
    names: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].lower() == "host":
            names += [w for w in words[1:] if not any(c in w for c in "*?!")]
    return names


def hosts_from_text(text: str) -> list[str]:
    """One host per line (user@host[:port] allowed); blanks and # comments skipped."""
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


class ClientsScreen(CopiesLog, Screen[None]):
    BINDINGS = [Binding("ctrl+y", "copy_log", "Copy log"), Binding("ctrl+r", "configure", "Configure all"), Binding("escape", "back", "Back")]

    def __init__(self, bus: EventBus, registry: RegistryTarget) -> None:
        super().__init__()
        self.bus, self.registry = bus, registry
        self.forms: dict[str, HostForm] = {}
        self.kinds: dict[str, ClientKind | None] = {}
        self.logs: dict[str, list[str]] = {}
        self.selected: str | None = None
        self.results: list[ClientResult] = []
        self.tunnels: dict[str, tuple[Transport, Tunnel]] = {}
        self._unsubscribe = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield StepsPanel(current=3, done=3, id="steps")
            with VerticalScroll(id="clients-main"):
                yield Label(f"Clients of {self.registry.url}", classes="question", markup=False)
                with Horizontal(classes="row"):
                    for name, label, placeholder, narrow in (
                            ("client-host", "Address or alias", "198.51.100.7", False),
                            ("client-user", "User", "root", True), ("client-port", "Port", "22", True)):
                        yield Vertical(Label(label, classes="field-label"),
                                       Input(placeholder=placeholder, id=name, compact=True,
                                             value="root" if name == "client-user" else "22" if name == "client-port" else ""),
                                       classes="field narrow" if narrow else "field")
                    yield Vertical(Label("Password (empty: key or agent)", classes="field-label"),
                                   Input(id="client-password", password=True, compact=True), classes="field")
                    yield Vertical(Label("Kind", classes="field-label"),
                                   Select(KIND_OPTIONS, value="detect", id="client-kind", allow_blank=False,
                                          compact=True), classes="field narrow")
                with Horizontal(id="client-buttons"):
                    yield Button("Add", id="add-client", compact=True)
                    yield Button("Add this machine", id="add-local", compact=True)
                    yield Button("Add ~/.ssh/config hosts", id="add-ssh-config", compact=True)
                    yield Input(placeholder="or a file with one host per line", id="hosts-file", compact=True)
                    yield Button("Add from file", id="add-file", compact=True)
                yield DataTable(id="clients", cursor_type="row")
                with Horizontal(id="clients-actions"):
                    yield Button("Configure all", id="configure", variant="primary", compact=True)
                    yield Button("Tunnel for the selected client", id="tunnel", compact=True)
                yield Static("", id="clients-status")
                yield Static("", id="clients-summary", markup=False)
                yield LiveLog(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#clients", DataTable)
        table.add_column("client", key="client", width=28)
        table.add_column("kind", key="kind", width=12)
        table.add_column("status", key="status", width=9)
        table.add_column("detail", key="detail", width=60)
        self._unsubscribe = self.bus.subscribe(self._on_event)

    async def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        for transport, tunnel in self.tunnels.values():
            tunnel.close()
            await transport.close()

    def _on_event(self, event: LogEvent) -> None:
        if not self.is_attached:
            return  # the screen is gone (the app is closing); the log file keeps the events
        if not event.source.startswith("client."):
            return
        name = event.source.removeprefix("client.")
        lines = event.render_lines()
        self.logs.setdefault(name, []).extend(lines)
        if name == self.selected:
            self.query_one("#log", Log).write_lines(lines)

    # -- the list ---------------------------------------------------------------
    def add_client(self, form: HostForm, kind: ClientKind | None) -> str | None:
        name = "this machine" if form.local else (f"{form.user}@{form.host}" if form.user else form.host)
        if name in self.forms:
            return None
        form.register_secrets(self.bus.redactor)
        self.forms[name], self.kinds[name] = form, kind
        self.query_one("#clients", DataTable).add_row(name, kind.value if kind else "detect", "pending", "",
                                                      key=name)
        if self.selected is None:
            self.selected = name
        return name

    def _kind(self) -> ClientKind | None:
        value = self.query_one("#client-kind", Select).value
        return None if value == "detect" else ClientKind(str(value))

    @on(Button.Pressed, "#add-client")
    def _add_typed(self) -> None:
        host = self.query_one("#client-host", Input).value.strip()
        error = validate_host(host.split("@")[-1])
        if error:
            self._status(error, "error")
            return
        user = self.query_one("#client-user", Input).value.strip() or "root"
        port = self.query_one("#client-port", Input).value.strip() or "22"
        password = self.query_one("#client-password", Input).value
        form = HostForm(host=host, port=parse_number(port) or 22, user=user,
                        auth="password" if password else "agent",
                        password=Secret(password) if password else None,
                        sudo_password=Secret(password) if password and user != "root" else None)
        self.add_client(form, self._kind())
        self.query_one("#client-host", Input).value = ""
        self.query_one("#client-password", Input).value = ""

    @on(Button.Pressed, "#add-local")
    def _add_local(self) -> None:
        self.add_client(HostForm(local=True), self._kind())

    @on(Button.Pressed, "#add-ssh-config")
    def _add_ssh_config(self) -> None:
        names = ssh_config_hosts()
        for name in names:
            self.add_client(HostForm(host=name, auth="agent"), None)
        self._status(f"added {len(names)} hosts from ~/.ssh/config" if names else "no hosts in ~/.ssh/config", "ok")

    @on(Button.Pressed, "#add-file")
    def _add_file(self) -> None:
        path = Path(self.query_one("#hosts-file", Input).value.strip()).expanduser()
        if not path.is_file():
            self._status(f"no file at {path}", "error")
            return
        for entry in hosts_from_text(path.read_text(errors="replace")):
            user, _, rest = entry.rpartition("@")
            host, _, port = rest.partition(":")
            if validate_host(host) is None:
                self.add_client(HostForm(host=host, user=user or "root", port=parse_number(port) or 22,
                                         auth="agent"), None)

    @on(DataTable.RowHighlighted, "#clients")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected = event.row_key.value
        log = self.query_one("#log", Log)
        log.clear()
        log.write_lines(self.logs.get(self.selected or "", []))

    def _status(self, text: str, kind: str) -> None:
        status = self.query_one("#clients-status", Static)
        status.update(text)
        status.set_classes(kind)

    def _update_row(self, result: ClientResult) -> None:
        table = self.query_one("#clients", DataTable)
        table.update_cell(result.name, "kind", result.kind.value if result.kind else "?")
        table.update_cell(result.name, "status", f"{result.status.icon} {result.status.value}")
        table.update_cell(result.name, "detail", result.message)

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- tunnel mode ------------------------------------------------------------------
    @on(Button.Pressed, "#tunnel")
    def _tunnel(self) -> None:
        name = self.selected
        if name is None or name not in self.forms or self.forms[name].local:
            self._status("select a remote client first (this machine pulls through its own forward)", "error")
            return
        self.open_tunnel(name)

    @work(exclusive=True, group="tunnel")
    async def open_tunnel(self, name: str) -> None:
        if name in self.tunnels:
            tunnel = self.tunnels[name][1]
        else:
            transport = self.forms[name].transport()
            try:
                await transport.connect()
                tunnel = await open_client_tunnel(transport, self.registry, self.registry.port)  # type: ignore[arg-type]
            except TransportError as exc:
                await transport.close()
                self._status(str(exc), "error")
                return
            self.tunnels[name] = (transport, tunnel)
        self._status(f"Tunnel open for {name} while regwiz runs: its localhost:{tunnel.local_port} "
                     f"leads to the registry; no trust settings needed.", "ok")
        self.query_one("#clients-summary", Static).update("\n".join([f"on {name}:"] + tunnel.usage()))

    # -- configuring ----------------------------------------------------------------
    @on(Button.Pressed, "#configure")
    def action_configure(self) -> None:
        if not self.forms:
            self._status("add at least one client first", "error")
            return
        self.run_clients()

    @work(exclusive=True, group="clients")
    async def run_clients(self) -> None:
        self._status(f"Checking that {self.registry.address} answers…", "busy")
        if not await self._registry_ready():
            return
        self._status("Preparing the test image…", "busy")
        await ensure_test_image(self.registry)
        specs = [ClientSpec(name, form.transport, self.kinds[name]) for name, form in self.forms.items()]

        async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
            changes = [FileChange(f"{name}: {c.path}", c.old, c.new, c.mode, c.sensitive)
                       for name, plan in plans for c in plan.changes]
            actions = [f"{name}: {a}" for name, plan in plans for a in plan.actions]
            combined = Plan(f"Configure {len({n for n, _ in plans})} clients to trust {self.registry.address}",
                            changes=changes, actions=actions)
            return bool(await self.app.push_screen_wait(PlanScreen(combined)))

        async def accept_key(name: str, unknown: HostKeyUnknown) -> bool:
            return bool(await self.app.push_screen_wait(
                HostKeyScreen(name, unknown.key_type, unknown.fingerprint)))

        self._status("Configuring…", "busy")
        self.results = await configure_clients(specs, self.registry, self.bus, confirm_all,
                                               on_update=self._update_row, accept_key=accept_key)
        ok = sum(r.status is Status.OK for r in self.results)
        self._status(f"{ok} of {len(self.results)} clients pull from the registry.",
                     "ok" if ok == len(self.results) else "error")
        self.query_one("#clients-summary", Static).update("\n".join(summary_table(self.results)))
        if ok == len(self.results):
            self.query_one(StepsPanel).mark_done(4)
        from app.session import record_clients

        remember = getattr(self.app, "remember", None)
        if remember is not None:
            remember(record_clients, {n: (f, self.kinds[n]) for n, f in self.forms.items()})

    async def _registry_ready(self) -> bool:
        """The registry answers, or the registry host (when connected) says why not; no client is touched."""
        server: Transport | None = getattr(self.app, "transport", None)
        emit = self.bus.scoped(source="registry", host=getattr(self.app, "host_label", ""))
        try:
            down = await wait_for_registry(self.registry, server, emit)
        except TransportError as exc:
            down = RegistryDown(f"its host cannot be reached to ask why ({exc})", "check the registry host")
        if down is None:
            return True
        self._status(f"The registry at {self.registry.address} does not answer: {down.cause}. "
                     f"Nothing was changed on the clients. Fix: {down.fix}", "error")
        return False

