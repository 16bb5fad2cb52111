"""The registry after day one: its repositories and tags with sizes, the storage on the host,
deleting marked tags and pruning by policy, each through its plan, with the bytes really freed.

Keys: Escape back, space marks a tag, d deletes the marked tags, p (or ctrl+r) prunes by the policy
in the fields, r reloads, ctrl+y copies the log. The list loads in a worker, a batch at a time.
"""

from __future__ import annotations


from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Header, Input, Label, Log, Static

from app.events import EventBus
from app.i18n import N_, _, ngettext
from app.registry.ops import (OpsError, PrunePlan, RegistrySource, TagInfo, human_size, iso_time)
from app.steps import Outcome, Plan, StepContext, run_step
from app.transport import Transport, TransportError
from screens.footer import Footer
from screens.livelog import COPY_LOG, LiveLog, LiveLogScreen
from screens.wizard import FormKeys, close_keys_panel

MARK = "●"
BATCH = 200  # rows added to the table at a time: the screen answers keys between batches


def row_key(info: TagInfo) -> str:
    return f"{info.repository}:{info.tag}"


class RegistryScreen(FormKeys, LiveLogScreen):
    DEFAULT_CSS = """
    #reg-body { height: 1fr; padding: 0 1; }
    #reg-title { text-style: bold; height: 1; }
    #reg-storage { height: 1; color: $text-muted; }
    #tags { height: 1fr; min-height: 4; }
    #reg-policy { height: auto; }
    #reg-policy Label { margin: 0 1 0 0; }
    #reg-policy Input { width: 8; margin-right: 1; }
    #reg-policy #prune-repo { width: 1fr; }
    #tag-detail { height: 1; color: $text-muted; }
    #registry-status { height: auto; max-height: 3; }
    #reg-bar { height: auto; }
    #reg-bar Button { margin-right: 2; }
    """

    BINDINGS = [Binding("escape", "back", N_("Back")), Binding("space", "toggle_mark", N_("Mark")),
                Binding("d", "delete_marked", N_("Delete")), Binding("p", "prune", N_("Prune")),
                Binding("ctrl+r", "prune", N_("Prune"), show=False), Binding("r", "reload", N_("Reload")),
                COPY_LOG]
    AUTO_FOCUS = "#tags"
    LOG_STEPS = frozenset({"registry"})
    STATUS_ID = "registry-status"

    def __init__(self, bus: EventBus, source: RegistrySource, transport: Transport, host_label: str,
                 autoload: bool = True) -> None:
        super().__init__()
        self.bus, self.source, self.transport, self.host_label = bus, source, transport, host_label
        self.autoload = autoload
        self.tags: dict[str, TagInfo] = {}
        self.marked: set[str] = set()
        self.usage: int | None = None
        self.free: int | None = None
        self.loading = False
        self.busy = False  # a delete or prune is under way
        self.last_freed: int | None = None  # the engine's measurement of the last delete or prune
        self._name_width = 36

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="reg-body"):
            yield Label(_("Registry {url}").format(url=self.source.url or self.host_label), id="reg-title",
                        markup=False)
            yield Static(_("Storage: measuring…"), id="reg-storage", markup=False)
            yield DataTable(id="tags", cursor_type="row", zebra_stripes=False)
            yield Static("", id="tag-detail", markup=False)
            # Enter through the fields; Enter in the last one prunes (the plan comes first).
            with Horizontal(id="reg-policy", classes="form form-action-prune"):
                yield Label(_("Prune: keep newest"))
                yield Input("", id="prune-keep", placeholder=_("N"), compact=True, restrict=r"[0-9]*")
                yield Label(_("or older than days"))
                yield Input("", id="prune-days", placeholder=_("DAYS"), compact=True, restrict=r"[0-9.]*")
                yield Label(_("repo"))
                yield Input("", id="prune-repo", placeholder=_("all"), compact=True)
            yield Static("", id="registry-status", markup=False)
            with Horizontal(id="reg-bar"):
                yield Button(_("Delete marked"), id="delete", variant="warning", compact=True, disabled=True)
                yield Button(_("Prune"), id="prune", compact=True)
                yield Button(_("Reload"), id="reload", compact=True)
            yield LiveLog(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#tags", DataTable)
        # regwiz.tcss gives #log 1fr and at least 8 lines, which wins over DEFAULT_CSS: inline, four lines
        # (and its border) leave the table room at 80x24.
        log = self.query_one("#log", Log)
        log.styles.height, log.styles.min_height = 6, 4
        # The name takes what the mark, size and pushed columns (and paddings, a scrollbar) leave.
        name = max(24, (self.app.size.width or 80) - 2 - 1 - 9 - 20 - 8 - 2)
        table.add_column(" ", key="mark", width=1)
        table.add_column(_("repository:tag"), key="name", width=name)
        self._name_width = name
        table.add_column(_("size"), key="size", width=9)
        table.add_column(_("pushed"), key="pushed", width=20)
        if self.autoload:
            self.action_reload()

    # -- the list ---------------------------------------------------------------------
    @on(Button.Pressed, "#reload")
    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="registry-load")
    async def load(self) -> None:
        import asyncio

        from app.registry.client import RegistryError
        from app.registry.ops import free_space, pushed_times, storage_usage, tags_in_batches

        self.loading = True
        table = self.query_one("#tags", DataTable)
        table.clear()
        self.tags, self.marked = {}, set()
        self._update_buttons()
        self.set_status(_("Reading the registry's tags…"))
        try:
            times: dict[tuple[str, str], float] = {}
            if self.source.storage is not None:
                times = await pushed_times(self.transport, self.source.storage)
            batches = tags_in_batches(self.source.client, batch=BATCH)
            while True:
                batch = await asyncio.to_thread(next, batches, None)
                if batch is None:
                    break
                for info in batch:
                    info.pushed = times.get(info.key)
                self.add_tags(batch)
                self.set_status(ngettext("Read {count} tags…", "Read {count} tags…", len(self.tags)).format(
                    count=len(self.tags)))
            if self.source.storage is not None:
                self.usage = await storage_usage(self.transport, self.source.storage)
                self.free = await free_space(self.transport, self.source.storage)
            self.show_storage()
            repositories = len({t.repository for t in self.tags.values()})
            self.set_status(ngettext("{tags} tags in {repositories} repositories. "
                                     "Space marks a tag, d deletes the marked; p prunes by the policy above.",
                                     "{tags} tags in {repositories} repositories. "
                                     "Space marks a tag, d deletes the marked; p prunes by the policy above.",
                                     len(self.tags)).format(tags=len(self.tags), repositories=repositories))
        except (RegistryError, TransportError, OSError) as exc:
            self.set_status(_("Cannot read the registry: {error}. Check the host and press r to try again.").format(
                error=exc))
        finally:
            self.loading = False
            self._update_buttons()

    def add_tags(self, batch: list[TagInfo]) -> None:
        """Add a batch of rows (one call into the table per batch, not per row)."""
        table = self.query_one("#tags", DataTable)
        rows = []
        for info in batch:
            key = row_key(info)
            if key in self.tags:
                continue
            self.tags[key] = info
            name = key if len(key) <= self._name_width else key[:self._name_width - 1] + "…"
            rows.append(((" ", name, human_size(info.size), iso_time(info.pushed) or "-"), key))
        for cells, key in rows:
            table.add_row(*cells, key=key)

    def show_storage(self) -> None:
        storage = self.query_one("#reg-storage", Static)
        if self.source.storage is None:
            storage.update(_("Storage: OSS (not on the host: neither measured nor pruned here)"))
            return
        total = sum(t.size for t in self.tags.values())
        storage.update(_("Storage {path}: {used} used, {free} free; tags list {listed}").format(
            path=self.source.storage, used=human_size(self.usage), free=human_size(self.free),
            listed=human_size(total)))

    @on(DataTable.RowHighlighted, "#tags")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        info = self.tags.get(event.row_key.value or "")
        detail = self.query_one("#tag-detail", Static)
        detail.update("" if info is None else f"{row_key(info)}  {info.digest[:19]}…  "
                      + _("{size} bytes").format(size=info.size))

    # -- marking ----------------------------------------------------------------------
    def _selected_key(self) -> str | None:
        table = self.query_one("#tags", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_toggle_mark(self) -> None:
        key = self._selected_key()
        if key is None or self.busy:
            return
        table = self.query_one("#tags", DataTable)
        if key in self.marked:
            self.marked.discard(key)
            table.update_cell(key, "mark", " ")
        else:
            self.marked.add(key)
            table.update_cell(key, "mark", Text(MARK, style="bold red"))
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)  # mark the next with the next space
        self._update_buttons()
        self.set_status(ngettext("{count} marked: press d to see what deleting them frees.",
                                 "{count} marked: press d to see what deleting them frees.",
                                 len(self.marked)).format(count=len(self.marked)) if self.marked
                        else _("Nothing marked."))

    def _update_buttons(self) -> None:
        if not self.is_attached:
            return
        idle = not (self.busy or self.loading)
        self.query_one("#delete", Button).disabled = not (self.marked and idle)
        self.query_one("#prune", Button).disabled = not idle
        self.query_one("#reload", Button).disabled = not idle
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_mark", "delete_marked", "prune", "reload") and isinstance(self.focused, Input):
            return action == "prune" or False  # a letter typed in a field is text (ctrl+r still prunes)
        if action == "delete_marked":
            return True if self.marked and not self.busy else None
        if action in ("prune", "reload"):
            return True if not (self.busy or self.loading) else None
        if action == "back":
            return len(self.app.screen_stack) > 1
        return True

    def action_back(self) -> None:
        if close_keys_panel(self):
            return
        if self.busy:
            self.notify(_("A delete or prune is running: wait for it to end (the registry is read-only meanwhile)."),
                        severity="warning")
            return
        if self.app.screen is self and len(self.app.screen_stack) > 1:
            self.workers.cancel_all()
            self.app.pop_screen()

    # -- deleting and pruning ---------------------------------------------------------
    @on(Button.Pressed, "#delete")
    def action_delete_marked(self) -> None:
        if not self.marked or self.busy:
            return
        from app.registry.ops import DeleteTagsStep

        keys = [self.tags[k].key for k in sorted(self.marked)]
        src = self.source
        self.run_change(DeleteTagsStep(src.client, src.storage, src.port, src.tls, keys, on_plan=self._planned),
                        ngettext("delete {count} marked tags", "delete {count} marked tags", len(keys)).format(
                            count=len(keys)))

    @on(Button.Pressed, "#prune")
    def _prune_pressed(self) -> None:
        self.action_prune()

    def policy(self) -> tuple[int | None, float | None, str | None] | str:
        """(keep, older than days, repository) from the fields, or what to fix in them."""
        from app.registry.client import is_valid_repository

        keep_text = self.query_one("#prune-keep", Input).value.strip()
        days_text = self.query_one("#prune-days", Input).value.strip()
        repo = self.query_one("#prune-repo", Input).value.strip() or None
        if bool(keep_text) == bool(days_text):
            return _("Fill in one of keep newest N or older than DAYS (not both), then press Enter or p.")
        if repo is not None and not is_valid_repository(repo):
            return _("{name} is not a repository name: leave it empty for all repositories.").format(
                name=repr(repo[:60]))
        if keep_text:
            keep = int(keep_text)
            if keep < 1:
                return _("Keep at least 1 tag of each repository (to empty one: older than 0 with its name).")
            return keep, None, repo
        try:
            days = float(days_text)
        except ValueError:
            return _("{value} is not a number of days: give one like 30 or 0.5.").format(value=repr(days_text))
        return None, days, repo

    def action_prune(self) -> None:
        if self.busy or self.loading:
            return
        chosen = self.policy()
        if isinstance(chosen, str):
            self.set_status(chosen)
            self.query_one("#prune-keep", Input).focus()
            return
        from app.registry.ops import PruneStep

        keep, days, repo = chosen
        src = self.source
        rule = (_("keep the {count} newest").format(count=keep) if keep is not None else
                _("older than {days} days").format(days=f"{days:g}"))
        self.run_change(PruneStep(src.client, src.storage, src.port, src.tls, keep=keep, older_than_days=days,
                                  repository=repo, on_plan=self._planned),
                        _("prune {rule} of {repository}").format(rule=rule, repository=repo or _("every repository")))

    async def _drop(self, deleted: list[TagInfo]) -> None:
        """The deleted tags leave the table, and the storage is measured again (no re-listing of thousands)."""
        from app.registry.ops import free_space, storage_usage

        table = self.query_one("#tags", DataTable)
        for info in deleted:
            key = row_key(info)
            if key in self.tags:
                del self.tags[key]
                self.marked.discard(key)
                table.remove_row(key)
        if self.source.storage is not None:
            try:
                self.usage = await storage_usage(self.transport, self.source.storage)
                self.free = await free_space(self.transport, self.source.storage)
            except TransportError as exc:
                self.notify(_("The storage could not be measured again: {error}. Press r to reload.").format(error=exc),
                            severity="warning")
        self.show_storage()
        self._update_buttons()

    def _planned(self, plan: PrunePlan) -> None:
        spared = (ngettext("; {count} spared (they share a manifest with a kept tag)",
                           "; {count} spared (they share a manifest with a kept tag)",
                           len(plan.spared)).format(count=len(plan.spared)) if plan.spared else "")
        self.set_status(ngettext("Planned: {count} tags go, about {size} back",
                                 "Planned: {count} tags go, about {size} back",
                                 len(plan.delete)).format(count=len(plan.delete), size=human_size(plan.freed_bytes))
                        + spared + _(". Read the plan and apply or cancel."))

    @work(exclusive=True, group="registry-change")
    async def run_change(self, step, what: str) -> None:  # type: ignore[no-untyped-def]
        from screens.plan import PlanScreen

        self.busy = True
        self._update_buttons()
        self.set_status(_("Planning: {what}…").format(what=what))

        async def confirm(plan: Plan) -> bool:
            return bool(await self.app.push_screen_wait(PlanScreen(plan)))  # type: ignore[arg-type]

        emit = self.bus.scoped(source="registry", host=self.host_label)
        try:
            result = await run_step(step, StepContext(self.transport, emit), confirm)
        except (OpsError, TransportError) as exc:
            self.set_status(f"{what}: {exc}")
            return
        finally:
            self.busy = False
            self._update_buttons()
        freed = step.result.freed_bytes
        if result.outcome is Outcome.APPLIED:
            self.last_freed = freed
            applied = step.applied_prune
            planned = applied.freed_bytes if applied else 0
            await self._drop(step.result.deleted)
            deleted = len(step.result.deleted)
            self.set_status(ngettext("Done: {count} tags deleted; {freed} freed ({bytes} bytes, "
                                     "measured on the host; {planned} planned).",
                                     "Done: {count} tags deleted; {freed} freed ({bytes} bytes, "
                                     "measured on the host; {planned} planned).", deleted).format(
                count=deleted, freed=human_size(freed), bytes=freed, planned=human_size(planned)))
        elif result.outcome is Outcome.NOTHING_TO_DO:
            self.set_status(_("{what}: no tag to delete (nothing changed).").format(what=what))
        elif result.outcome is Outcome.DECLINED:
            self.set_status(_("Cancelled: nothing was deleted."))
        else:
            extra = " " + _("{size} were freed before it stopped.").format(size=human_size(freed)) if freed else ""
            self.set_status(_("{what} did not finish: {message}.{extra} See the log (ctrl+y copies it).").format(
                what=what, message=result.message, extra=extra))
