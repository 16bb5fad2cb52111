"""Re-checking a deployed set-up from its profile: every row in parallel, each with its fix.

Rows: the host reachable, Docker healthy, no bridge conflict, the registry up,
its TLS certificate valid (and days to expiry), auth working, and each client
trusting the registry and able to pull.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable

from app.clients.configure import login, prove_pull
from app.clients.detect import detect_kind
from app.clients.model import RegistryTarget
from app.diagnose import DiagnosisContext
from app.diagnose.network import NetworkCheck
from app.dockerd import DockerService
from app.events import EventBus
from app.profiles import Profile
from app.registry.client import RegistryClient, RegistryError, RegistryTLSError
from app.registry.health import explain_registry_down
from app.session import SetupError, client_kind, host_form, registry_target
from app.steps import Status
from app.transport import TransportError

# What fixes a failing row: the wizard step to open (the TUI) or the command to run.
FIX_DIAGNOSE, FIX_DEPLOY, FIX_CLIENTS = "diagnose", "deploy", "clients"


@dataclass
class HealthRow:
    key: str
    title: str
    status: Status = Status.PENDING
    detail: str = ""
    fix: str | None = None  # FIX_* when failing


OnRow = Callable[[HealthRow], None]


async def _row(row: HealthRow, on_row: OnRow, work: Callable[[], Awaitable[tuple[Status, str]]],
               fix: str) -> HealthRow:
    row.status, row.detail = Status.RUNNING, "checking…"
    on_row(row)
    try:
        row.status, row.detail = await work()
    except (TransportError, RegistryError, SetupError, OSError, asyncio.TimeoutError) as exc:
        row.status, row.detail = Status.FAILURE, str(exc) or exc.__class__.__name__
    row.fix = fix if row.status is not Status.OK else None
    on_row(row)
    return row


async def check_health(profile: Profile, bus: EventBus, on_row: OnRow) -> list[HealthRow]:
    redactor = bus.redactor
    server_name = profile.server.host or "this machine"
    rows = {key: HealthRow(key, title) for key, title in (
        ("host", f"{server_name} reachable"), ("docker", "Docker healthy"), ("bridge", "No bridge conflict"),
        ("registry", "Registry up"), ("tls", "TLS certificate"), ("auth", "Auth working"))}
    for row in rows.values():
        on_row(row)
    registry: RegistryTarget = registry_target(profile, redactor)
    client = RegistryClient(registry.endpoint())
    transport = host_form(profile.server, redactor).transport()
    connected = asyncio.Event()

    services: list[DockerService] = []  # detected once, by the host row

    async def host() -> tuple[Status, str]:
        try:
            await transport.connect()
            services.append(await DockerService.detect(transport))
        finally:
            connected.set()
        return Status.OK, f"connected to {transport.label}"

    async def docker() -> tuple[Status, str]:
        await connected.wait()
        service = services[0] if services else await DockerService.detect(transport)
        ok = await service.answers(transport)
        return (Status.OK, "the daemon answers") if ok else (Status.FAILURE, "the daemon does not answer")

    async def bridge() -> tuple[Status, str]:
        await connected.wait()
        ctx = DiagnosisContext(transport, bus, server_name)
        ctx.facts["docker_running"] = True
        ctx.facts["init"] = (services[0] if services else await DockerService.detect(transport)).init
        version = await transport.run(["sh", "-c", "dockerd --version 2>/dev/null || docker --version"])
        ctx.facts["docker_version"] = version.stdout.strip() or None
        result = await NetworkCheck().run(ctx, bus.scoped(source="dashboard", host=server_name))
        return result.status, result.summary

    async def up() -> tuple[Status, str]:
        try:
            code = await asyncio.to_thread(client.ping, False)
        except RegistryTLSError:
            raise  # it answers: the TLS row explains
        except (RegistryError, OSError) as exc:
            await connected.wait()
            if not services:  # the host itself is out of reach: its own row says why
                raise
            down = await explain_registry_down(transport, registry.port)
            raise RegistryError(f"{exc}; {down.cause}. Fix: {down.fix}") from exc
        return Status.OK, f"{registry.url}/v2/ answers {code}"

    async def tls() -> tuple[Status, str]:
        if not registry.tls:
            return Status.WARNING, "no TLS: every client needs --insecure-registry"
        info = await asyncio.to_thread(client.tls_handshake)
        from datetime import datetime, timezone

        expires = datetime.fromisoformat(str(info["not_after"]).replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        days = (expires - datetime.now(timezone.utc)).days
        status = Status.OK if days > 30 else Status.WARNING if days > 0 else Status.FAILURE
        return status, f"valid, {days} days to expiry ({info['protocol']})"

    async def auth() -> tuple[Status, str]:
        if not registry.username:
            return Status.WARNING, "no authentication: anyone who reaches the port can pull and push"
        await asyncio.to_thread(client.login)
        anonymous = await asyncio.to_thread(client.ping, False)
        if anonymous != 401:
            return Status.FAILURE, "the registry lets anonymous clients in"
        return Status.OK, f"{registry.username} logs in; anonymous access refused"

    checks = [(rows["host"], host, FIX_DIAGNOSE), (rows["docker"], docker, FIX_DIAGNOSE),
              (rows["bridge"], bridge, FIX_DIAGNOSE), (rows["registry"], up, FIX_DEPLOY),
              (rows["tls"], tls, FIX_DEPLOY), (rows["auth"], auth, FIX_DEPLOY)]
    for entry in profile.clients:
        form = host_form(entry, redactor)
        name = "this machine" if form.local else f"{entry.user}@{entry.host}"
        row = HealthRow(f"client:{name}", f"{name} pulls")
        on_row(row)
        rows[row.key] = row

        async def pulls(form=form, entry=entry, name=name) -> tuple[Status, str]:  # type: ignore[no-untyped-def]
            t = form.transport()
            emit = bus.scoped(source=f"client.{name}", host=name)
            try:
                await t.connect()
                kind = client_kind(entry) or await detect_kind(t, emit)
                await login(t, kind, registry, emit)
                seconds = await prove_pull(t, kind, registry, emit)
                return Status.OK, f"{kind.value}: pulled in {seconds:.1f} s"
            finally:
                await t.close()

        checks.append((row, pulls, FIX_CLIENTS))
    try:
        done = await asyncio.gather(*(_row(r, on_row, w, f) for r, w, f in checks))
    finally:
        await transport.close()
    return list(done)
