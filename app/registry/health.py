"""Why a deployed registry does not answer, asked of its host in words a user can act on.

Used before clients are configured and by the dashboard: "connection refused"
alone does not say whether the host just rebooted, Docker stayed down, or the
container crash-loops.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app import facts
from app.clients.model import RegistryTarget
from app.dockerd import explain_failure
from app.i18n import _
from app.events import ScopedEmitter
from app.registry.deploy import container_state, last_log_lines
from app.transport import Command, Transport, shell

RECENT_BOOT_SECONDS = 600  # a boot this recent is worth naming as the likely cause


@dataclass
class RegistryDown:
    cause: str
    fix: str
    transient: bool = False  # still coming up: worth waiting a little


async def seconds_since_boot(transport: Transport) -> int | None:
    """How long the host's init has run: its boot, also inside a container."""
    result = await transport.run(Command("ps", "-o", "etimes=", "-p", "1"))
    text = result.stdout.strip()
    return int(text) if result.ok and text.isascii() and text.isdigit() else None


async def explain_registry_down(transport: Transport, port: int,
                                emit: ScopedEmitter | None = None) -> RegistryDown:
    """The cause, read off the registry host, of its registry not answering on ``port``."""
    booted = await seconds_since_boot(transport)
    recently = booted is not None and booted < RECENT_BOOT_SECONDS
    boot_note = _("the host restarted {seconds} s ago; ").format(seconds=booted) if recently else ""
    service = await facts.docker_service(transport)
    if not await service.answers(transport):
        enabled = await service.is_enabled(transport)
        starting = False
        if service.init == "systemd":
            active = await transport.run(Command("systemctl", "is-active", "docker"))
            starting = active.stdout.strip() == "activating"
        known = explain_failure(await service.recent_log(transport, emit))
        cause = boot_note + (_("Docker is not running (it is not enabled at boot, so a restart leaves it down)")
                             if enabled is False else _("Docker is not running yet (it is starting)") if starting
                             else _("Docker is not running"))
        if known:
            cause += f": {known.said_cause}"
        return RegistryDown(cause, _("run {command} (starts Docker and enables it at boot)").format(
                                command="`regwiz diagnose --yes`"),
                            transient=starting or (recently and enabled is not False and not known))
    box = await container_state(transport, emit)
    if not box.exists:
        return RegistryDown(boot_note + _("the registry container is gone"),
                            _("deploy again: {command}").format(command="`regwiz deploy --yes`"))
    if box.status == "running":
        # A crash loop can look "running" for an instant: look again a moment later.
        await asyncio.sleep(2)
        later = await container_state(transport, emit)
        if later.restart_count > box.restart_count:
            later.status = "restarting"
        box = later
    if box.status == "restarting":
        return RegistryDown(boot_note + _("the registry container keeps restarting ({count} restarts); its last log "
                                          "lines: {lines}").format(count=box.restart_count,
                                                                   lines=await last_log_lines(transport)),
                            _("fix what its log says, then {command}").format(command="`regwiz deploy --yes`"))
    if box.status != "running":
        detail = _("exit code {code}").format(code=box.exit_code) + (f", {box.error}" if box.error else "")
        return RegistryDown(boot_note + _("the registry container is {status} ({detail}); its last log lines: "
                                          "{lines}").format(status=box.status or _("not running"), detail=detail,
                                                            lines=await last_log_lines(transport)),
                            _("start it again with {command}").format(command="`regwiz deploy --yes`"),
                            transient=box.status == "created" and recently)
    listening = await transport.run(shell("ss -ltnH 2>/dev/null | awk '{print $4}' | grep -c \":$1\\$\" || true",
                                          str(port)))
    if listening.stdout.strip() in ("", "0"):
        return RegistryDown(boot_note + _("the registry container runs but nothing listens on port {port}").format(
                                port=port),
                            _("check the host's firewall and the container's port mapping; {command}").format(
                                command="`regwiz deploy --yes`"),
                            transient=recently)
    return RegistryDown(boot_note + _("the registry runs and listens on port {port} on the host, but this machine "
                                      "cannot reach it: a firewall or security group is in the way").format(port=port),
                        _("open {port}/tcp to this machine in the cloud console's security group").format(port=port),
                        transient=recently)  # just booted: its forwarding rules may still be coming


async def registry_answers(target: RegistryTarget) -> bool:
    """Does anything registry-like answer at the target's address (any HTTP or TLS reply counts)?"""
    from app.registry.client import RegistryClient, RegistryError, RegistryTLSError

    client = RegistryClient(target.endpoint())
    try:
        await asyncio.to_thread(client.ping, False)
    except RegistryTLSError:
        return True  # something answers; the TLS problem is reported where it matters
    except (RegistryError, OSError):
        return False
    return True


async def wait_for_registry(target: RegistryTarget, host: Transport | None,
                            emit: ScopedEmitter | None, patience: float = 45) -> RegistryDown | None:
    """None once the registry answers; else why not, read off ``host`` (waiting while it comes up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        if await registry_answers(target):
            return None
        if host is None:
            return RegistryDown(_("regwiz has no connection to its host to ask why"),
                                _("check the registry host ({command} with its profile shows why)").format(
                                    command="`regwiz --profile`"))
        down = await explain_registry_down(host, target.port, emit)
        if not down.transient or loop.time() >= deadline:
            return down
        if emit is not None:
            emit.info(_("waiting: {cause}").format(cause=down.cause))
        await asyncio.sleep(2)
