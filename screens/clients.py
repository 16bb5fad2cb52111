"""The clients screen: a list of machines, configured at once, each with its own log and status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Header, Input, Label, Log, Select, Static

from app.clients.configure import ClientResult, ClientSpec, configure_clients
from app.clients.kinds import kind_names
from app.clients.model import ClientKind, RegistryTarget
from app.clients.testimage import ensure_test_image
from app.clients.tunnel import Tunnel, open_client_tunnel
from app.events import EventBus, LogEvent
from app.i18n import N_, _, ngettext
from app.profiles import ClientProfile
from app.redact import Secret
from app.registry.client import RegistryError
from app.registry.health import RegistryDown, wait_for_registry
from app.remote_files import FileChange
from app.steps import Plan, Status
from app.targets import HostForm, parse_number, validate_host, validate_port, validate_user
from app.transport import Transport, TransportError
from app.transport.hostkeys import HostKeyUnknown
from screens.footer import Footer
from screens.hostkey import HostKeyScreen
from screens.livelog import LiveLog
from screens.plan import PlanScreen
from screens.steps import StepsPanel
from screens.wizard import WizardStep

KIND_OPTIONS = [(N_("detect"), "detect")] + [(name, name) for name in kind_names()]  # (labels: _() in compose)
PASSWORD_NEEDED = N_("password needed: select it and enter the password")  # (a row's detail: _() where shown)
NO_ADDRESS = N_("enter the client's address or ~/.ssh/config alias")
THIS_MACHINE = "this machine"  # the local client's name, its key in the table (shown translated)
#: The table's column headings, by column key (translated where shown).
COLUMN_TITLES = {"client": N_("client"), "kind": N_("kind"), "status": N_("status"), "detail": N_("detail")}
#: The status words of a row (app.steps.Status values), translated where shown.
STATUS_WORDS = (N_("pending"), N_("running"), N_("ok"), N_("warning"), N_("failure"), N_("skipped"))


def example(value: str) -> str:
    """A placeholder's hint: e.g. VALUE."""
    return _("e.g. {example}").format(example=value)


def shown_name(name: str) -> str:
    """A client's name as the table shows it: "this machine" in the language in use."""
    return _(THIS_MACHINE) if name == THIS_MACHINE else name


def shown_detail(detail: str) -> str:
    return _(PASSWORD_NEEDED) if detail == PASSWORD_NEEDED else detail


def status_cell(status: Status) -> str:
    return f"{status.icon} {_(status.value)}"


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


def check_host(value: str) -> str | None:
    """validate_host, worded for a client (its own message speaks of the server)."""
    return _(NO_ADDRESS) if not value.strip() else validate_host(value)


FIELD_CHECKS: dict[str, Callable[[str], str | None]] = {
    "client-host": lambda value: check_host(value.rpartition("@")[2]) or
    (validate_user(value.rpartition("@")[0]) if "@" in value else None),
    "client-user": validate_user,
    "client-port": validate_port,
}


def client_name(form: HostForm) -> str:
    return THIS_MACHINE if form.local else (f"{form.user}@{form.host}" if form.user else form.host)


@dataclass
class Row:
    """What the table shows of a client (kept to redraw the table when its columns change)."""

    kind: str
    status: str
    detail: str


class ClientsTable(DataTable[str]):
    """The clients table; tells the screen its width so the detail column takes the space left."""

    class WidthChanged(Message):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.WidthChanged(self.outer_size.width))


class ClientDetail(Static):
    """The selected client in full, under the table; kept in view while the table has the focus."""

    def on_resize(self, event: events.Resize) -> None:
        # (its new height is known only now: a longer detail may reach below the view)
        if isinstance(self.screen.focused, DataTable):
            self.scroll_visible(animate=False)


class ClientsScreen(WizardStep):
    STEP = 3
    HAS_PRIMARY = True
    BINDINGS = [Binding("ctrl+n", "next_step", N_("Next: Summary")), Binding("ctrl+r", "primary", N_("Configure all"))]
    AUTO_FOCUS = "#client-host"
    LOG_STEPS = frozenset({"client"})
    STATUS_ID = "clients-status"
    # Above this width the two rows of fields become one.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    # regwiz.tcss wins over these rules where both set a property: the ids and classes here
    # are ones it does not style (or styles the same way).
    DEFAULT_CSS = """
    ClientsScreen #clients-main { scrollbar-size-vertical: 1; }
    ClientsScreen #add-client-form, ClientsScreen #client-fields { height: auto; layout: vertical; }
    ClientsScreen.-wide #client-fields { layout: horizontal; }
    ClientsScreen.-wide #client-fields > .client-row { width: 1fr; }
    ClientsScreen .client-row { height: auto; width: 1fr; }
    ClientsScreen .client-row > .field { padding-right: 1; height: auto; }  /* (its margin is regwiz.tcss's) */
    ClientsScreen #field-client-host, ClientsScreen #field-client-password { width: 1fr; }
    ClientsScreen #field-client-user { width: 16; }
    ClientsScreen.-wide #field-client-user { width: 12; }
    ClientsScreen #field-client-port { width: 12; }
    ClientsScreen #field-client-kind { width: 16; }
    ClientsScreen #client-kind { width: 1fr; }
    ClientsScreen .field-error { display: none; }
    ClientsScreen .field-error.shown { display: block; }
    ClientsScreen #client-form-hint { height: auto; margin-bottom: 1; }
    ClientsScreen #client-buttons { margin: 0 0 1 0; }
    ClientsScreen #hosts-file-form { height: auto; margin-bottom: 1; }
    ClientsScreen #hosts-file-row { height: auto; }
    ClientsScreen #hosts-file-path { width: 1fr; margin-right: 1; }
    ClientsScreen #clients { overflow-x: hidden; scrollbar-size-vertical: 1; }
    ClientsScreen #inventory-form { height: auto; margin-bottom: 1; }
    ClientsScreen #inventory-row { height: auto; }
    ClientsScreen #inventory-path { width: 1fr; margin-right: 1; }
    ClientsScreen #inventory-limit { width: 18; margin-right: 1; }
    ClientsScreen #client-detail { height: auto; margin-top: 1; color: $text-muted; }
    ClientsScreen #clients-actions Button { margin-right: 1; }
    ClientsScreen Button { min-width: 0; }  /* (16 by default: the three Add buttons would not fit at 80 columns) */
    ClientsScreen #clients-summary { height: auto; }
    """

    def __init__(self, bus: EventBus, registry: RegistryTarget, saved: list[ClientProfile] | None = None) -> None:
        super().__init__()
        self.bus, self.registry = bus, registry
        self.saved = list(saved or [])
        self.forms: dict[str, HostForm] = {}
        self.kinds: dict[str, ClientKind | None] = {}
        self.rows: dict[str, Row] = {}
        self.needs_password: set[str] = set()
        self.logs: dict[str, list[str]] = {}
        self.selected: str | None = None
        self.results: list[ClientResult] = []
        self.tunnels: dict[str, tuple[Transport, Tunnel]] = {}
        self.running = False
        self._columns: tuple[tuple[str, int], ...] = ()

    # -- layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield StepsPanel(current=3, done=3, id="steps")
            with VerticalScroll(id="clients-main"):
                yield Label(_("Clients of {url}").format(url=self.registry.url), classes="question", markup=False)
                # Enter moves host → user → port → password; Enter in the password adds the client.
                with Vertical(id="add-client-form", classes="form form-action-add-client"):
                    with Vertical(id="client-fields"):
                        with Horizontal(classes="client-row"):
                            # Placeholders read as hints; defaults are real values.
                            yield self._field("client-host", _("Address or ~/.ssh/config alias"),
                                              placeholder=example("198.51.100.7"))
                            yield self._field("client-user", _("User"), value="root")
                        with Horizontal(classes="client-row"):
                            yield self._field("client-port", _("Port"), value="22")
                            yield self._field("client-password", _("Password"), password=True)
                            yield Vertical(Label(_("Kind"), classes="field-label"),
                                           Select([(_(label), value) for label, value in KIND_OPTIONS],
                                                  value="detect", id="client-kind",
                                                  allow_blank=False, compact=True),
                                           classes="field", id="field-client-kind")
                    yield Static(_("No password: ssh-agent or your SSH keys log in. Enter goes to the next "
                                   "field; Enter in Password adds the client."), id="client-form-hint",
                                 classes="hint")
                    with Horizontal(id="client-buttons"):
                        yield Button(_("Add"), id="add-client", compact=True)
                        yield Button(_("Add this machine"), id="add-local", compact=True)
                        yield Button(_("Add ~/.ssh/config hosts"), id="add-ssh-config", compact=True)
                with Vertical(id="hosts-file-form", classes="form form-action-add-file"):
                    yield Label(_("Or from a file, one user@host:port a line"), classes="field-label")
                    with Horizontal(id="hosts-file-row"):
                        yield Input(placeholder=example("~/hosts.txt"), id="hosts-file-path", compact=True)
                        yield Button(_("Add from file"), id="add-file", compact=True)
                    yield Static("", id="hosts-file-path-error", classes="field-error", markup=False)
                # Enter in the path moves to the limit; Enter in the limit adds the inventory's hosts.
                with Vertical(id="inventory-form", classes="form form-action-add-inventory"):
                    yield Label(_("Or an Ansible inventory, with an optional --limit"), classes="field-label")
                    with Horizontal(id="inventory-row"):
                        yield Input(placeholder=example("~/hosts.ini"), id="inventory-path", compact=True)
                        yield Input(placeholder=example("web:!web3"), id="inventory-limit", compact=True)
                        yield Button(_("Add inventory"), id="add-inventory", compact=True)
                    yield Static("", id="inventory-path-error", classes="field-error", markup=False)
                yield ClientsTable(id="clients", cursor_type="row")
                yield ClientDetail("", id="client-detail", markup=False)
                with Horizontal(id="clients-actions"):
                    yield Button(_("Configure all"), id="configure", variant="primary", compact=True)
                    yield Button(_("Tunnel for the selected client"), id="tunnel", compact=True)
                yield Static("", id="clients-status", markup=False)
                yield Static("", id="clients-summary", markup=False)
                yield LiveLog(id="log", highlight=False)
        yield Footer()

    def _field(self, name: str, label: str, *, value: str = "", placeholder: str = "",
               password: bool = False) -> Vertical:
        """A label over an input over its error line (``#NAME-error``, shown when there is one)."""
        return Vertical(Label(label, classes="field-label"),
                        Input(value=value, placeholder=placeholder, password=password, id=name, compact=True),
                        Static("", id=f"{name}-error", classes="field-error", markup=False),
                        classes="field", id=f"field-{name}")

    def on_mount(self) -> None:
        self._fit_columns(80)
        for entry in self.saved:
            self._add_saved(entry)
        self._show_detail()

    async def on_unmount(self) -> None:
        for transport, tunnel in self.tunnels.values():
            tunnel.close()
            await transport.close()

    @on(ClientsTable.WidthChanged)
    def _table_resized(self, event: ClientsTable.WidthChanged) -> None:
        self._fit_columns(event.width)

    def _fit_columns(self, width: int) -> None:
        """The detail column takes what the others leave; narrow tables show the kind below instead."""
        table = self.query_one("#clients", DataTable)
        usable = width - 1 - 2 * table.cell_padding * 4  # (a scrollbar's column, each column's padding)
        if usable >= 64:
            columns: tuple[tuple[str, int], ...] = (("client", 24), ("kind", 11), ("status", 9))
        else:
            columns = (("client", 18), ("status", 9))
            usable += 2 * table.cell_padding  # (one column fewer)
        columns += (("detail", max(8, usable - sum(w for _key, w in columns))),)
        if columns == self._columns:
            return
        self._columns = columns
        table.clear(columns=True)
        for key, column_width in columns:
            table.add_column(_(COLUMN_TITLES[key]), key=key, width=column_width)
        for name in self.rows:
            table.add_row(*self._cells(name), key=name)
        if self.selected in self.rows:
            table.move_cursor(row=table.get_row_index(self.selected), animate=False)

    def _cells(self, name: str) -> list[str]:
        row = self.rows[name]
        values = {"client": shown_name(name), "kind": _(row.kind) if row.kind == "detect" else row.kind,
                  "status": row.status, "detail": shown_detail(row.detail)}
        return [values[key] for key, _width in self._columns]

    def _set_row(self, name: str, row: Row) -> None:
        table = self.query_one("#clients", DataTable)
        if name in self.rows:
            self.rows[name] = row
            for (key, _width), value in zip(self._columns, self._cells(name), strict=True):
                table.update_cell(name, key, value)
        else:
            self.rows[name] = row
            table.add_row(*self._cells(name), key=name)
        if self.selected is None:
            self.selected = name
        if name == self.selected:
            self._show_detail()

    def _show_detail(self) -> None:
        """The selected client in full (the table crops long details), wrapped."""
        row = self.rows.get(self.selected or "")
        if row is None:
            text = _("No clients yet: add them above, then configure all (ctrl+r).") if not self.rows else ""
        else:
            kind = _(row.kind) if row.kind == "detect" else row.kind
            text = f"{shown_name(self.selected or '')} ({kind}) · {row.status}" + (
                f": {shown_detail(row.detail)}" if row.detail else "")
        self.query_one("#client-detail", Static).update(text)

    def on_log_event(self, event: LogEvent) -> None:
        """Each client keeps its own log; the selected one's is shown."""
        name = event.scope.part
        lines = event.render_lines()
        self.logs.setdefault(name, []).extend(lines)
        if name == self.selected:
            self.query_one("#log", Log).write_lines(lines)

    # -- the list ---------------------------------------------------------------
    def add_client(self, form: HostForm, kind: ClientKind | None, detail: str = "") -> str | None:
        """Add a client, or replace the one with the same user@host (a corrected password, port, kind)."""
        name = client_name(form)
        replaced = name in self.forms
        form.register_secrets(self.bus.redactor)
        self.forms[name], self.kinds[name] = form, kind
        if detail != PASSWORD_NEEDED:
            self.needs_password.discard(name)
        self._set_row(name, Row(kind.value if kind else "detect", status_cell(Status.PENDING), detail))
        if replaced:
            self.set_status(_("{name} was in the list already: its password, port and kind are now the ones "
                              "just entered.").format(name=shown_name(name)), "ok")
        return name

    def _add_saved(self, entry: ClientProfile) -> None:
        """A client from the profile; a secret its variable does not hold is asked for in the row."""
        from app.session import SetupError, client_kind, host_form

        try:
            kind = client_kind(entry)
        except ValueError:
            kind = None  # (an unknown kind in a hand-edited profile: detected instead)
        detail = ""
        try:
            form = host_form(entry, self.bus.redactor)
        except SetupError as exc:
            local = entry.kind == "local"
            form = HostForm(local=local, host=entry.host, port=entry.port, user=entry.user,
                            auth="key" if entry.identity_file else "agent", identity_file=entry.identity_file or "")
            detail = str(exc) if local or entry.identity_file else PASSWORD_NEEDED
        if not form.local and form.auth == "agent" and not entry.identity_file:
            detail = PASSWORD_NEEDED  # no variable names one: ssh-agent is tried unless one is entered
        name = self.add_client(form, kind, detail)
        if name and detail == PASSWORD_NEEDED:
            self.needs_password.add(name)

    def _kind(self) -> ClientKind | None:
        value = self.query_one("#client-kind", Select).value
        return None if value == "detect" else ClientKind(str(value))

    def _show_error(self, field: str, error: str | None) -> None:
        label = self.query_one(f"#{field}-error", Static)
        label.update(error or "")
        label.set_class(bool(error), "shown")

    @on(Input.Changed)
    def _validate_field(self, event: Input.Changed) -> None:
        """A field's error shows as it is typed (an empty field is told off only when adding)."""
        if event.input.id in ("hosts-file-path", "inventory-path", "inventory-limit"):
            # (checked when added: a path half typed is no error)
            self._show_error("inventory-path" if event.input.id == "inventory-limit" else event.input.id, None)
        check = FIELD_CHECKS.get(event.input.id or "")
        if check is not None:
            self._show_error(event.input.id or "", check(event.value) if event.value.strip() else None)

    @on(Button.Pressed, "#add-client")
    def action_add_client(self) -> None:
        """The typed client, once every field is right; the focus goes back to the address."""
        values = {name: self.query_one(f"#{name}", Input).value for name in FIELD_CHECKS}
        errors = {name: check(values[name]) for name, check in FIELD_CHECKS.items()}
        for name, error in errors.items():
            self._show_error(name, error)
        wrong = [name for name, error in errors.items() if error]
        if wrong:
            field = self.query_one(f"#{wrong[0]}", Input)
            field.focus()
            self.query_one(f"#field-{wrong[0]}").scroll_visible(animate=False)
            self.set_status(_("Nothing added: fix the fields marked in red, then press Enter in Password."), "error")
            return
        typed_user, _at, host = values["client-host"].strip().rpartition("@")
        user = typed_user or values["client-user"].strip()
        password = self.query_one("#client-password", Input).value
        secret = Secret(password) if password else None
        form = HostForm(host=host, port=parse_number(values["client-port"]) or 22, user=user,
                        auth="password" if secret else "agent", password=secret,
                        sudo_password=secret if user != "root" else None)
        replacing = client_name(form) in self.forms
        added = self.add_client(form, self._kind())  # (a replaced client says so itself)
        if not replacing:
            self.set_status(_("Added {name}. Add another, or configure all (ctrl+r).").format(
                name=shown_name(added or "")), "ok")
        self.query_one("#client-host", Input).value = ""
        self.query_one("#client-password", Input).value = ""
        self.query_one("#client-host", Input).focus()

    @on(Button.Pressed, "#add-local")
    def _add_local(self) -> None:
        self.add_client(HostForm(local=True), self._kind())

    @on(Button.Pressed, "#add-ssh-config")
    def _add_ssh_config(self) -> None:
        names = ssh_config_hosts()
        for name in names:
            self.add_client(HostForm(host=name, auth="agent"), None)
        self.set_status(ngettext("Added {count} hosts from ~/.ssh/config.", "Added {count} hosts from ~/.ssh/config.",
                                 len(names)).format(count=len(names)) if names else
                        _("No hosts in ~/.ssh/config: add them by address above."), "ok" if names else "error")

    @on(Button.Pressed, "#add-file")
    def action_add_file(self) -> None:
        """Each line of the file a client; lines that are not user@host:port are named, not guessed."""
        field = self.query_one("#hosts-file-path", Input)
        typed = field.value.strip()
        error: str | None = None
        path = Path(typed).expanduser() if typed else None
        try:
            if path is None:
                error = _("enter the path of a file with one user@host:port a line")
            elif not path.is_file():
                error = _("no file at {path}: check the path").format(path=path)
        except (OSError, ValueError) as exc:
            error = _("not a usable path ({error}): check it").format(error=exc.__class__.__name__)
        self._show_error("hosts-file-path", error)
        if error or path is None:
            field.focus()
            self.set_status(_("Nothing added from a file: ") + (error or ""), "error")
            return
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            self._show_error("hosts-file-path",
                             _("cannot read {path}: {error}").format(path=path, error=exc.strerror or exc))
            return
        added, skipped = 0, []
        for number, entry in enumerate(hosts_from_text(text), 1):
            user, _at, rest = entry.rpartition("@")
            host, _colon, port = rest.partition(":")
            user, port = user or "root", port or "22"
            if check_host(host) or validate_port(port) or validate_user(user):
                skipped.append(str(number))
                continue
            self.add_client(HostForm(host=host, user=user, port=parse_number(port) or 22, auth="agent"), None)
            added += 1
        message = ngettext("Added {count} clients from {file}.", "Added {count} clients from {file}.", added).format(
            count=added, file=path.name)
        if skipped:
            message += " " + _("Skipped entries {numbers} (not user@host:port): fix them in the file "
                               "and add it again.").format(numbers=", ".join(skipped))
        self.set_status(message, "error" if skipped else "ok")

    @on(Button.Pressed, "#add-inventory")
    def action_add_inventory(self) -> None:
        """The hosts of an Ansible inventory (its --limit pattern applied by Ansible), as saved clients are."""
        path = self.query_one("#inventory-path", Input).value.strip()
        limit = self.query_one("#inventory-limit", Input).value.strip() or None
        if not path:
            self._show_error("inventory-path", _("enter the path of an Ansible inventory"))
            self.query_one("#inventory-path", Input).focus()
            return
        self.set_status(_("Reading {path} with ansible-inventory…").format(path=path), "busy")
        self._read_inventory(path, limit)

    @work(exclusive=True, group="inventory")
    async def _read_inventory(self, path: str, limit: str | None) -> None:
        import asyncio

        from app.inventory import inventory_clients
        from app.session import SetupError

        try:  # (a subprocess: off the event loop, the screen stays live)
            entries = await asyncio.to_thread(inventory_clients, path, limit, self.saved)
        except SetupError as exc:
            self._show_error("inventory-path", str(exc))
            self.set_status(_("Nothing added from the inventory: ") + str(exc), "error")
            return
        for entry in entries:
            self._add_saved(entry)
        waiting = sum(1 for name in self.needs_password if name in self.rows)
        count, file = len(entries), Path(path).name
        added = (ngettext("Added {count} clients from {file} matching {limit}.",
                          "Added {count} clients from {file} matching {limit}.", count).format(
                     count=count, file=file, limit=limit) if limit else
                 ngettext("Added {count} clients from {file}.", "Added {count} clients from {file}.", count).format(
                     count=count, file=file))
        self.set_status(added + (" " + ngettext("{count} need a password: select each to enter it.",
                                                "{count} need a password: select each to enter it.",
                                                waiting).format(count=waiting) if waiting else ""), "ok")

    @on(DataTable.RowHighlighted, "#clients")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected = event.row_key.value
        self._show_detail()
        if event.data_table.has_focus:  # (moving through the rows: the detail below stays in view)
            self.query_one("#client-detail").scroll_visible(animate=False)
        log = self.query_one("#log", Log)
        log.clear()
        log.write_lines(self.logs.get(self.selected or "", []))

    @on(DataTable.RowSelected, "#clients")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """A saved client without its password: the form is filled in for the password to be typed."""
        name = event.row_key.value
        if name not in self.needs_password:
            return
        form = self.forms[name]
        self.query_one("#client-host", Input).value = form.host
        self.query_one("#client-user", Input).value = form.user
        self.query_one("#client-port", Input).value = str(form.port)
        kind = self.kinds.get(name)
        self.query_one("#client-kind", Select).value = kind.value if kind else "detect"
        self.query_one("#client-password", Input).focus()
        self.set_status(_("Enter the password of {name}, then press Enter: it replaces the row.").format(name=name),
                        "busy")

    def status_text(self) -> str:
        return str(self.query_one("#clients-status", Static).render())

    def _update_row(self, result: ClientResult) -> None:
        self._set_row(result.name, Row(result.kind.value if result.kind else "?", status_cell(result.status),
                                       result.message))

    # -- tunnel mode ------------------------------------------------------------------
    @on(Button.Pressed, "#tunnel")
    def _tunnel(self) -> None:
        name = self.selected
        if name is None or name not in self.forms or self.forms[name].local:
            self.set_status(_("Select a remote client in the table first (this machine pulls through its own "
                              "forward)."), "error")
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
                self.set_status(str(exc), "error")
                return
            self.tunnels[name] = (transport, tunnel)
        self.set_status(_("Tunnel open for {name} while regwiz runs: its localhost:{port} "
                          "leads to the registry; no trust settings needed.").format(name=name, port=tunnel.local_port),
                        "ok")
        self.query_one("#clients-summary", Static).update(
            "\n".join([_("on {name}:").format(name=name)] + tunnel.usage()))

    # -- configuring ----------------------------------------------------------------
    @on(Button.Pressed, "#configure")
    def action_configure(self) -> None:
        if not self.forms:
            self.set_status(_("Add at least one client first: its address, then Enter through the fields."), "error")
            self.query_one("#client-host", Input).focus()
            return
        if self.running:
            self.set_status(_("Configuring is under way: wait for it to finish."), "busy")
            return
        self.run_clients()

    async def action_primary(self) -> None:
        self.action_configure()

    @work(exclusive=True, group="clients")
    async def run_clients(self) -> None:
        self.running = True
        try:
            await self._run_clients()
        finally:
            self.running = False

    async def _run_clients(self) -> None:
        self.set_status(_("Checking that {address} answers…").format(address=self.registry.address), "busy")
        if not await self._registry_ready():
            return
        self.set_status(_("Preparing the test image…"), "busy")
        try:
            await ensure_test_image(self.registry)
        except (RegistryError, TransportError, OSError) as exc:
            self.set_status(_("The test image could not be pushed to {address}: {error}. Nothing was "
                              "changed on the clients. Fix the registry (see its dashboard), then configure again "
                              "(ctrl+r).").format(address=self.registry.address, error=exc), "error")
            self.query_one("#clients-status").scroll_visible(top=True, animate=False)
            return
        specs = [ClientSpec(name, form.transport, self.kinds[name]) for name, form in self.forms.items()]

        async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
            changes = [FileChange(f"{name}: {c.path}", c.old, c.new, c.mode, c.sensitive)
                       for name, plan in plans for c in plan.changes]
            actions = [f"{name}: {a}" for name, plan in plans for a in plan.actions]
            count = len({n for n, _plan in plans})
            combined = Plan(ngettext("Configure {count} clients to trust {address}",
                                     "Configure {count} clients to trust {address}", count).format(
                                count=count, address=self.registry.address),
                            changes=changes, actions=actions)
            return bool(await self.app.push_screen_wait(PlanScreen(combined)))  # type: ignore[arg-type]

        async def accept_key(name: str, unknown: HostKeyUnknown) -> bool:
            return bool(await self.app.push_screen_wait(
                HostKeyScreen(name, unknown.key_type, unknown.fingerprint)))  # type: ignore[arg-type]

        self.set_status(_("Configuring…"), "busy")
        results = await configure_clients(specs, self.registry, self.bus, confirm_all,
                                          on_update=self._update_row, accept_key=accept_key)
        self.show_results(results)
        from app.session import record_clients

        remember = getattr(self.app, "remember", None)
        if remember is not None:
            remember(record_clients, {n: (f, self.kinds[n]) for n, f in self.forms.items()})

    def show_results(self, results: list[ClientResult]) -> None:
        """The outcome, wrapped and scrolled into view; the step is done when every client pulls."""
        self.results = results
        ok = sum(r.status is Status.OK for r in results)
        total = len(results)
        if results and ok == total:
            text, kind = ngettext("{ok} of {total} clients pull from the registry. Next: Summary (ctrl+n).",
                                  "{ok} of {total} clients pull from the registry. Next: Summary (ctrl+n).",
                                  total).format(ok=ok, total=total), "ok"
        else:
            text, kind = ngettext("{ok} of {total} clients pull from the registry. Select a client in the "
                                  "table for its log; fix it, then configure again (ctrl+r).",
                                  "{ok} of {total} clients pull from the registry. Select a client in the "
                                  "table for its log; fix it, then configure again (ctrl+r).",
                                  total).format(ok=ok, total=total), "error"
        self.set_status(text, kind)
        lines = [f"{r.status.icon} {shown_name(r.name)} ({r.kind.value if r.kind else '?'}): {_(r.status.value)}"
                 + (f", {r.message}" if r.message else "") for r in results]
        self.query_one("#clients-summary", Static).update("\n".join(lines))
        # The status at the top of the view, the summary under it.
        self.query_one("#clients-status").scroll_visible(top=True, animate=False)
        if results and ok == len(results):
            self.complete()

    async def _registry_ready(self) -> bool:
        """The registry answers, or the registry host (when connected) says why not; no client is touched."""
        server: Transport | None = getattr(self.app, "transport", None)
        emit = self.bus.scoped(source="registry", host=getattr(self.app, "host_label", ""))
        try:
            down = await wait_for_registry(self.registry, server, emit)
        except TransportError as exc:
            down = RegistryDown(_("its host cannot be reached to ask why ({error})").format(error=exc),
                                _("check the registry host"))
        if down is None:
            return True
        self.set_status(_("The registry at {address} does not answer: {cause}. "
                          "Nothing was changed on the clients. Fix: {fix}").format(
                            address=self.registry.address, cause=down.cause, fix=down.fix), "error")
        self.query_one("#clients-status").scroll_visible(top=True, animate=False)
        return False
