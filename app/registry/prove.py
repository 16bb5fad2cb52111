"""Proving the deployed registry from this machine, and telling the user how to use it."""

from __future__ import annotations

import asyncio
import time

from app import pki
from app.clients.model import RegistryTarget
from app.events import EventKind, ScopedEmitter
from app.registry.client import ProofStep, RegistryClient, RegistryEndpoint, prove_registry
from app.registry.deploy import DeployChoices


def endpoint_for(choices: DeployChoices, host: str | None = None) -> RegistryEndpoint:
    return client_target(choices).endpoint(host)


async def prove(choices: DeployChoices, emit: ScopedEmitter, host: str | None = None) -> list[ProofStep]:
    """Handshake, ping, login, push, pull, compare, delete: each sub-step shown as it ends."""
    loop = asyncio.get_running_loop()
    client = RegistryClient(endpoint_for(choices, host))

    def on_step(step: ProofStep) -> None:  # runs in the worker thread
        kind = EventKind.INFO if step.ok else EventKind.ERROR
        text = f"{'✓' if step.ok else '✗'} {step.name}: {step.detail} ({step.seconds:.2f} s)"
        loop.call_soon_threadsafe(emit, kind, text)

    emit.info(f"proving {client.endpoint.address} from this machine")
    started = time.monotonic()
    steps = await asyncio.to_thread(prove_registry, client, "regwiz/proof", on_step,
                                    choices.settings.mode == "private")
    emit.info(f"proof took {time.monotonic() - started:.1f} s")
    return steps


def summary_lines(choices: DeployChoices) -> list[str]:
    settings = choices.settings
    address = choices.address
    lines = [f"Registry: {'http' if settings.tls == 'none' else 'https'}://{address}"]
    if settings.tls == "own-ca":
        ca = pki.load_or_create_ca()
        lines += [f"CA certificate: {ca.cert_path}",
                  f"  fingerprint {ca.fingerprint_sha256}",
                  f"  Docker clients trust it at /etc/docker/certs.d/{address}/ca.crt (no restart needed)"]
    if settings.auth == "htpasswd":
        first = next(iter(choices.users), "USER")
        lines.append(f"Log in: docker login {address} -u {first}")
    if settings.tls == "none":
        lines += ["Without TLS, every Docker client refuses this registry with:",
                  f'  Get "https://{address}/v2/": http: server gave HTTP response to HTTPS client',
                  f"  until its daemon is started with --insecure-registry {address} (the Clients step does it)"]
    if settings.mode == "cache":
        lines.append(f"Pull-through cache of {settings.proxy_remote_url}: it refuses pushes. "
                     f"Set it as a registry mirror on clients (registry-mirrors).")
    else:
        lines.append(f"Push: docker tag IMAGE {address}/NAME:TAG && docker push {address}/NAME:TAG")
    lines.append("Next: Clients, to configure the machines that push and pull.")
    return lines


def client_target(choices: DeployChoices) -> RegistryTarget:
    """The registry as clients (and regwiz's own proof) see it."""
    settings = choices.settings
    user, password = next(iter(choices.users.items()), (None, None))
    auth = settings.auth == "htpasswd"
    return RegistryTarget(
        host=choices.names[0], port=settings.port, tls=settings.tls != "none",
        ca_pem=pki.load_or_create_ca().cert_pem if settings.tls == "own-ca" else None,
        username=user if auth else None, password=password if auth else None,
        cache=settings.mode == "cache")
