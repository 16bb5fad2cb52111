"""Proving the deployed registry from this machine, and telling the user how to use it.

The proof (``prove_registry``) is a row of timed sub-steps over the v2 client (app.registry.client):
TLS handshake, GET /v2/ without credentials, login, then push, pull, compare and delete a generated
image (app.registry.testimage); ``prove`` runs it in a thread and shows each sub-step as it ends."""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from app import pki
from app.clients.model import RegistryTarget
from app.events import EventKind, ScopedEmitter
from app.i18n import N_, _
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
        text = f"{'✓' if step.ok else '✗'} " + _("{step}: {detail} ({seconds:.2f} s)").format(
            step=_(step.name), detail=step.detail, seconds=step.seconds)
        loop.call_soon_threadsafe(emit, kind, text)

    emit.info(_("proving {address} from this machine").format(address=client.endpoint.address))
    started = time.monotonic()
    try:
        steps = await asyncio.to_thread(prove_registry, client, "regwiz/proof", on_step,
                                        choices.settings.mode == "private")
    finally:
        client.close()
    emit.info(_("proof took {seconds:.1f} s").format(seconds=time.monotonic() - started))
    return steps


def summary_lines(choices: DeployChoices) -> list[str]:
    settings = choices.settings
    address = choices.address
    lines = [_("Registry: {url}").format(url=f"{'http' if settings.tls == 'none' else 'https'}://{address}")]
    if settings.tls == "own-ca":
        ca = pki.load_or_create_ca()
        lines += [_("CA certificate: {path}").format(path=ca.cert_path),
                  "  " + _("fingerprint {fingerprint}").format(fingerprint=ca.fingerprint_sha256),
                  "  " + _("Docker clients trust it at {path} (no restart needed)").format(
                      path=f"/etc/docker/certs.d/{address}/ca.crt")]
    if settings.auth == "htpasswd":
        first = next(iter(choices.users), "USER")
        lines.append(_("Log in: {command}").format(command=f"docker login {address} -u {first}"))
    if settings.tls == "none":
        lines += [_("Without TLS, every Docker client refuses this registry with:"),
                  f'  Get "https://{address}/v2/": http: server gave HTTP response to HTTPS client',
                  "  " + _("until its daemon is started with --insecure-registry {address} (the Clients step does "
                           "it)").format(address=address)]
    if settings.mode == "cache":
        lines.append(_("Pull-through cache of {url}: it refuses pushes. Set it as a registry mirror on clients "
                       "(registry-mirrors).").format(url=settings.proxy_remote_url))
    else:
        lines.append(_("Push: {command}").format(
            command=f"docker tag IMAGE {address}/NAME:TAG && docker push {address}/NAME:TAG"))
    lines.append(_("Next: Clients, to configure the machines that push and pull."))
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
        return self._report(self._timed(name, action))

    def run_together(self, steps: list[tuple[str, Callable[[], str]]]) -> bool:
        """Sub-steps that do not wait for each other, at once (each in a thread, each on a connection
        of its own, timed on its own), reported in the order given; False when any failed."""
        with concurrent.futures.ThreadPoolExecutor(len(steps), thread_name_prefix="regwiz-proof") as pool:
            done = [pool.submit(self._timed, name, action) for name, action in steps]
        return all([self._report(future.result()) for future in done])

    @staticmethod
    def _timed(name: str, action: Callable[[], str]) -> ProofStep:
        started = time.monotonic()
        try:
            detail, ok = action(), True
        except RegistryError as exc:
            detail, ok = str(exc), False
        return ProofStep(name, ok, detail, round(time.monotonic() - started, 3))

    def _report(self, step: ProofStep) -> bool:
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return step.ok


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
    if ep.tls and not proof.run(N_("TLS handshake"), lambda: _handshake_detail(client.tls_handshake())):
        return False
    if not proof.run(N_("GET /v2/ without credentials"), lambda: _anonymous_detail(client)):
        return False
    return not ep.has_credentials or proof.run(N_("log in"), lambda: _login_detail(client))


def _login_detail(client: RegistryClient) -> str:
    client.login()
    return _("the registry accepted the user {user}").format(user=client.endpoint.username)


def _handshake_detail(info: dict) -> str:
    sans = ", ".join(info["sans"]) or _("no SANs")
    return _("{protocol}, certificate {subject} for {names}, valid until {not_after}").format(
        protocol=info["protocol"], subject=info["subject"] or _("(no subject)"), names=sans,
        not_after=info["not_after"])


def _anonymous_detail(client: RegistryClient) -> str:
    status = client.ping(with_auth=False)
    if client.endpoint.has_credentials:
        if status == 401:
            return _("401: the registry refuses anonymous access, as it must with authentication on")
        raise RegistryAuthError(_("the registry answered 200 without credentials: authentication is off, so "
                                  "anyone who reaches it can push and pull"), status=status)
    if status == 200:
        return _("200: the registry answers without credentials (no authentication configured)")
    raise RegistryAuthError(_("the registry wants a login (401) but no user name and password are configured"),
                            status=status)


def _prove_push_pull(client: RegistryClient, repository: str, image: GeneratedImage, tag: str,
                     proof: _Proof) -> None:
    pulled: dict[str, Any] = {}  # the manifest (bytes) and its digest (str)

    def push(data: bytes, what: str) -> str:
        digest = client.push_blob(repository, data, fresh=True)  # the marker makes the image new
        return _("{what} {digest} ({size} bytes) is in {repository}").format(what=_(what), digest=digest,
                                                                              size=len(data), repository=repository)

    def push_manifest() -> str:
        digest = client.put_manifest(repository, tag, image.manifest, SCHEMA2)
        if digest != image.manifest_digest:
            raise RegistryError(_("the registry stored the manifest as {digest}, not {expected}").format(
                digest=digest, expected=image.manifest_digest))
        return _("{tag} is {digest}").format(tag=f"{repository}:{tag}", digest=digest)

    def pull_manifest() -> str:
        pulled["manifest"], pulled["digest"] = client.get_manifest(repository, tag)
        return _("{tag} gave {size} bytes, digest {digest}").format(
            tag=f"{repository}:{tag}", size=len(pulled["manifest"]), digest=pulled["digest"])

    def compare() -> str:
        if pulled["digest"] != image.manifest_digest or pulled["manifest"] != image.manifest:
            raise RegistryError(_("the pulled manifest ({digest}) differs from the pushed one ({expected})").format(
                digest=pulled["digest"], expected=image.manifest_digest))
        return _("pulled and pushed manifests are both {digest}").format(digest=image.manifest_digest)

    def pull_layer() -> str:
        if client.get_blob(repository, image.layer_digest) != image.layer:
            raise RegistryError(_("the pulled layer differs from the pushed one"))
        return _("layer {digest} came back byte for byte ({size} bytes)").format(digest=image.layer_digest,
                                                                                size=len(image.layer))

    def delete() -> str:
        client.delete_manifest(repository, image.manifest_digest)
        return _("manifest {digest} deleted (its blobs stay until garbage collection)").format(
            digest=image.manifest_digest)

    # The two blobs go up at once (as docker push sends layers): with htpasswd each request costs the
    # registry a bcrypt check, which its goroutines make side by side.
    if not proof.run_together([(N_("push layer"), lambda: push(image.layer, N_("layer"))),
                               (N_("push config"), lambda: push(image.config, N_("config")))]):
        return
    steps: list[tuple[str, Callable[[], str]]] = [
        (N_("push manifest"), push_manifest),
        (N_("pull manifest"), pull_manifest),
        (N_("compare digests"), compare),
        (N_("pull layer"), pull_layer),
        (N_("delete"), delete),
    ]
    for name, action in steps:
        if not proof.run(name, action):
            return
