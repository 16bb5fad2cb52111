"""Proving the deployed registry from this machine, and telling the user how to use it.

The proof (``prove_registry``) is a row of timed sub-steps over the v2 client (app.registry.client):
TLS handshake, GET /v2/ without credentials, login, then push, pull, compare and delete a generated
image (app.registry.testimage); ``prove`` runs it in a thread and shows each sub-step as it ends."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from app import pki
from app.clients.model import RegistryTarget
from app.events import EventKind, ScopedEmitter
from app.registry.client import SCHEMA2, RegistryAuthError, RegistryClient, RegistryEndpoint, RegistryError
from app.registry.deploy import DeployChoices
from app.registry.testimage import GeneratedImage, generate_test_image


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


# --- the proof's sub-steps ------------------------------------------------------------


@dataclass
class ProofStep:
    name: str
    ok: bool
    detail: str
    seconds: float


class _Proof:
    """Runs named sub-steps, timing each and stopping the proof at the first failure."""

    def __init__(self, on_step: Callable[[ProofStep], None] | None) -> None:
        self.steps: list[ProofStep] = []
        self.on_step = on_step

    def run(self, name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail, ok = action(), True
        except RegistryError as exc:
            detail, ok = str(exc), False
        step = ProofStep(name, ok, detail, round(time.monotonic() - started, 3))
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return ok


def prove_registry(client: RegistryClient, repository: str = "regwiz/proof",
                   on_step: Callable[[ProofStep], None] | None = None, push: bool = True, *,
                   marker: str | None = None) -> list[ProofStep]:
    """Handshake, anonymous GET, login, then push, pull, compare and delete a fresh image.

    push=False (a pull-through cache refuses pushes) stops after the access steps.
    marker makes the image (and its tag proof-<marker>) known in advance; random by default.
    """
    proof = _Proof(on_step)
    if not _prove_access(client, proof) or not push:
        return proof.steps
    marker = marker or secrets.token_hex(6)  # each run's image differs, so nothing is skipped as present
    _prove_push_pull(client, repository, generate_test_image(marker), f"proof-{marker}", proof)
    return proof.steps


def _prove_access(client: RegistryClient, proof: _Proof) -> bool:
    ep = client.endpoint
    if ep.tls and not proof.run("TLS handshake", lambda: _handshake_detail(client.tls_handshake())):
        return False
    if not proof.run("GET /v2/ without credentials", lambda: _anonymous_detail(client)):
        return False
    return not ep.has_credentials or proof.run("log in", lambda: _login_detail(client))


def _login_detail(client: RegistryClient) -> str:
    client.login()
    return f"the registry accepted the user {client.endpoint.username}"


def _handshake_detail(info: dict) -> str:
    sans = ", ".join(info["sans"]) or "no SANs"
    return f"{info['protocol']}, certificate {info['subject'] or '(no subject)'} for {sans}, valid until " \
           f"{info['not_after']}"


def _anonymous_detail(client: RegistryClient) -> str:
    status = client.ping(with_auth=False)
    if client.endpoint.has_credentials:
        if status == 401:
            return "401: the registry refuses anonymous access, as it must with authentication on"
        raise RegistryAuthError("the registry answered 200 without credentials: authentication is off, so "
                                "anyone who reaches it can push and pull", status=status)
    if status == 200:
        return "200: the registry answers without credentials (no authentication configured)"
    raise RegistryAuthError("the registry wants a login (401) but no user name and password are configured",
                            status=status)


def _prove_push_pull(client: RegistryClient, repository: str, image: GeneratedImage, tag: str,
                     proof: _Proof) -> None:
    pulled: dict[str, Any] = {}  # the manifest (bytes) and its digest (str)

    def push(data: bytes, what: str) -> str:
        digest = client.push_blob(repository, data)
        return f"{what} {digest} ({len(data)} bytes) is in {repository}"

    def push_manifest() -> str:
        digest = client.put_manifest(repository, tag, image.manifest, SCHEMA2)
        if digest != image.manifest_digest:
            raise RegistryError(f"the registry stored the manifest as {digest}, not {image.manifest_digest}")
        return f"{repository}:{tag} is {digest}"

    def pull_manifest() -> str:
        pulled["manifest"], pulled["digest"] = client.get_manifest(repository, tag)
        return f"{repository}:{tag} gave {len(pulled['manifest'])} bytes, digest {pulled['digest']}"

    def compare() -> str:
        if pulled["digest"] != image.manifest_digest or pulled["manifest"] != image.manifest:
            raise RegistryError(f"the pulled manifest ({pulled['digest']}) differs from the pushed one "
                                f"({image.manifest_digest})")
        return f"pulled and pushed manifests are both {image.manifest_digest}"

    def pull_layer() -> str:
        if client.get_blob(repository, image.layer_digest) != image.layer:
            raise RegistryError("the pulled layer differs from the pushed one")
        return f"layer {image.layer_digest} came back byte for byte ({len(image.layer)} bytes)"

    def delete() -> str:
        client.delete_manifest(repository, image.manifest_digest)
        return f"manifest {image.manifest_digest} deleted (its blobs stay until garbage collection)"

    steps: list[tuple[str, Callable[[], str]]] = [
        ("push layer", lambda: push(image.layer, "layer")),
        ("push config", lambda: push(image.config, "config")),
        ("push manifest", push_manifest),
        ("pull manifest", pull_manifest),
        ("compare digests", compare),
        ("pull layer", pull_layer),
        ("delete", delete),
    ]
    for name, action in steps:
        if not proof.run(name, action):
            return
