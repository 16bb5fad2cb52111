"""A headless run's progress line over many clients: done / failed / running out of total."""

from __future__ import annotations

import sys
from typing import TextIO

from app.clients.configure import ClientResult
from app.i18n import _
from app.steps import Status


class ClientProgress:
    """Called with each client's result as it changes (configure_clients' on_update); prints one line
    whenever the counts change. ``running``: started and not yet done or failed (connected, planning,
    waiting for the others' plans, applying or pulling)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.status: dict[str, Status] = {}
        self.last: tuple[int, int, int] | None = None

    def counts(self) -> tuple[int, int, int]:
        values = list(self.status.values())
        done = values.count(Status.OK) + values.count(Status.SKIPPED)
        failed = values.count(Status.FAILURE)
        running = values.count(Status.RUNNING)
        return done, failed, running

    def line(self) -> str:
        done, failed, running = self.counts()
        return "== progress: " + _("{done} done, {failed} failed, {running} running of {total} clients").format(
            done=done, failed=failed, running=running, total=self.total)

    def __call__(self, result: ClientResult) -> None:
        self.status[result.name] = result.status
        if self.counts() != self.last:
            self.last = self.counts()
            print(self.line(), file=self.stream, flush=True)
