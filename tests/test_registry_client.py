"""The registry client against a real registry: Debian's docker-registry (CNCF distribution 2.8.2).

Each test starts the registry binary on 127.0.0.1 with a config written to
tmp_path (plain HTTP, TLS from a CA made here, htpasswd auth, pull-through
cache) and checks what the client makes of its real answers.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import http.server
import io
import ipaddress
import json
import socket
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.registry.client import (
    SCHEMA2,
    RegistryAuthError,
    RegistryClient,
    RegistryEndpoint,
    RegistryError,
    RegistryTLSError,
)
from app.registry.prove import ProofStep, prove_registry
from app.registry.testimage import generate_test_image

REGISTRY_BIN = Path("/usr/bin/docker-registry")
USER, PASSWORD = "alice", "correct horse battery staple"
PUSH_STEPS = ["push layer", "push config", "push manifest", "pull manifest", "compare digests", "pull layer",
              "delete"]


# --- a CA and server certificates ----------------------------------------------------


@dataclass
class MadeCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=2))


def make_ca(common_name: str = "regwiz test CA") -> MadeCA:
    key = ec.generate_private_key(ec.SECP256R1())  # EC: fast to make, and Go serves it
    builder = _validity(x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
                        .public_key(key.public_key()).serial_number(x509.random_serial_number()))
    cert = (builder
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return MadeCA(key, cert)


def make_server_cert(ca: MadeCA, ips: tuple[str, ...] = ("127.0.0.1",),
                     dns: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) signed by ca, naming exactly the given SANs."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = _validity(x509.CertificateBuilder().subject_name(_name("regwiz test registry"))
                        .issuer_name(ca.cert.subject).public_key(key.public_key())
                        .serial_number(x509.random_serial_number()))
    cert = (builder
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


# --- running the real registry -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningRegistry:
    port: int
    process: subprocess.Popen
    log: Path
    tls: bool
    ca_pem: bytes | None = None
    users: dict[str, str] = field(default_factory=dict)

    def endpoint(self, **overrides: object) -> RegistryEndpoint:
        values: dict = {"host": "127.0.0.1", "port": self.port, "tls": self.tls, "ca_pem": self.ca_pem,
                        "timeout": 5.0}
        if self.users:
            values["username"], values["password"] = next(iter(self.users.items()))
        values.update(overrides)
        return RegistryEndpoint(**values)

    def client(self, **overrides: object) -> RegistryClient:
        return RegistryClient(self.endpoint(**overrides))


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"docker-registry did not listen on 127.0.0.1:{port} within 10 s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def start_registry(tmp_path: Path) -> Iterator[Callable[..., RunningRegistry]]:
    """Start docker-registry with a config file in tmp_path; every one started is stopped after the test."""
    if not REGISTRY_BIN.exists():
        pytest.fail(f"{REGISTRY_BIN} is missing: install Debian's docker-registry package "
                    "(apt-get install docker-registry) to run these tests")
    started: list[subprocess.Popen] = []

    def start(name: str = "registry", *, tls: tuple[bytes, bytes] | None = None, ca_pem: bytes | None = None,
              users: dict[str, str] | None = None, proxy: str | None = None,
              delete: bool = True) -> RunningRegistry:
        home = tmp_path / name
        home.mkdir()
        port = free_port()
        config: dict = {
            "version": "0.1",
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(home / "data")}, "delete": {"enabled": delete}},
            "http": {"addr": f"127.0.0.1:{port}", "secret": "regwiz-test-secret"},
        }
        if tls:
            (home / "cert.pem").write_bytes(tls[0])
            (home / "key.pem").write_bytes(tls[1])
            config["http"]["tls"] = {"certificate": str(home / "cert.pem"), "key": str(home / "key.pem")}
        if users:
            (home / "htpasswd").write_text("".join(f"{u}:{_htpasswd_hash(p)}\n" for u, p in users.items()))
            config["auth"] = {"htpasswd": {"realm": "regwiz-test", "path": str(home / "htpasswd")}}
        if proxy:
            config["proxy"] = {"remoteurl": proxy}
        (home / "config.yml").write_text(json.dumps(config, indent=2))  # JSON is YAML: no YAML writer needed
        log = home / "registry.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(REGISTRY_BIN), "serve", str(home / "config.yml")], stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started.append(process)
        _wait_until_listening(process, port, log)
        return RunningRegistry(port, process, log, tls is not None, ca_pem, dict(users or {}))

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _htpasswd_hash(password: str) -> str:
    # Cost 4 (bcrypt's least): the registry checks the hash on every request, and tests make many.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return "$2y$" + hashed[4:]


@pytest.fixture
def ca() -> MadeCA:
    return make_ca()


@pytest.fixture
def secure_registry(start_registry: Callable[..., RunningRegistry], ca: MadeCA) -> RunningRegistry:
    """TLS with a certificate for IP 127.0.0.1, and htpasswd auth."""
    return start_registry("secure", tls=make_server_cert(ca), ca_pem=ca.pem, users={USER: PASSWORD})


@pytest.fixture
def open_registry(start_registry: Callable[..., RunningRegistry]) -> RunningRegistry:
    """Plain HTTP, no auth: the simplest registry."""
    return start_registry("open")


# --- the proof over TLS and auth -----------------------------------------------------


def test_prove_registry_over_tls_with_auth(secure_registry: RunningRegistry) -> None:
    client = secure_registry.client()
    seen: list[ProofStep] = []
    steps = prove_registry(client, "regwiz/proof", seen.append, marker="tls-auth")

    assert [s.name for s in steps] == ["TLS handshake", "GET /v2/ without credentials", "log in", *PUSH_STEPS]
    assert all(s.ok for s in steps), [(s.name, s.detail) for s in steps if not s.ok]
    assert seen == steps
    assert all(s.seconds >= 0 for s in steps)
    details = {s.name: s.detail for s in steps}
    assert "TLSv1.3" in details["TLS handshake"] and "IP:127.0.0.1" in details["TLS handshake"]
    assert "refuses anonymous access" in details["GET /v2/ without credentials"]
    assert USER in details["log in"]

    image = generate_test_image("tls-auth")
    # The layer blob stays after the manifest's delete: it is the very bytes generated.
    assert client.get_blob("regwiz/proof", image.layer_digest) == image.layer
    assert "regwiz/proof" in client.catalog()
    assert "proof-tls-auth" not in client.tags("regwiz/proof")
    with pytest.raises(RegistryError) as by_digest:
        client.get_manifest("regwiz/proof", image.manifest_digest)
    assert by_digest.value.status == 404 and "MANIFEST_UNKNOWN" in by_digest.value.codes
    with pytest.raises(RegistryError) as by_tag:
        client.get_manifest("regwiz/proof", "proof-tls-auth")
    assert by_tag.value.status == 404


def test_tls_handshake_describes_the_certificate(secure_registry: RunningRegistry) -> None:
    info = secure_registry.client().tls_handshake()
    assert info["protocol"] == "TLSv1.3"
    assert info["sans"] == ["IP:127.0.0.1"]
    assert "regwiz test registry" in info["subject"] and "regwiz test CA" in info["issuer"]
    assert info["not_after"].endswith("Z") and info["not_after"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_wrong_password_is_refused_at_login(secure_registry: RunningRegistry) -> None:
    client = secure_registry.client(password="wrong")
    with pytest.raises(RegistryAuthError) as refused:
        client.login()
    assert str(refused.value).startswith(f"the registry refused the user {USER}: wrong password or unknown user")
    assert refused.value.status == 401
    assert client.ping(with_auth=False) == 401  # anonymous: refused, as auth is on
    assert secure_registry.client().ping() == 200

    steps = prove_registry(client)
    assert [(s.name, s.ok) for s in steps] == [("TLS handshake", True), ("GET /v2/ without credentials", True),
                                             ("log in", False)]
    assert "wrong password" in steps[-1].detail


def test_anonymous_client_is_told_to_log_in(secure_registry: RunningRegistry) -> None:
    client = secure_registry.client(username=None, password=None)
    assert client.ping() == 401
    with pytest.raises(RegistryAuthError, match="requires a login") as refused:
        client.push_blob("regwiz/proof", b"anonymous")
    assert refused.value.status == 401
    steps = prove_registry(client)
    assert [(s.name, s.ok) for s in steps] == [("TLS handshake", True), ("GET /v2/ without credentials", False)]
    assert "no user name and password are configured" in steps[-1].detail


# --- TLS mismatches ------------------------------------------------------------------


def test_tls_client_against_plain_http_registry(open_registry: RunningRegistry) -> None:
    client = open_registry.client(tls=True)
    with pytest.raises(RegistryTLSError, match="speaks plain HTTP, not HTTPS") as handshake:
        client.tls_handshake()
    assert "WRONG_VERSION_NUMBER" in str(handshake.value)  # what OpenSSL 3.0 says here
    with pytest.raises(RegistryTLSError, match="speaks plain HTTP, not HTTPS"):
        client.ping()
    steps = prove_registry(client)
    assert [(s.name, s.ok) for s in steps] == [("TLS handshake", False)]


def test_plain_http_client_against_tls_registry(secure_registry: RunningRegistry) -> None:
    # Go's TLS server answers plain HTTP with 400 "Client sent an HTTP request to an HTTPS server."
    with pytest.raises(RegistryTLSError, match="speaks HTTPS, not plain HTTP") as mismatch:
        secure_registry.client(tls=False).ping()
    assert mismatch.value.status == 400


def test_certificate_from_another_ca(secure_registry: RunningRegistry) -> None:
    with pytest.raises(RegistryTLSError, match="not signed by the CA given"):
        secure_registry.client(ca_pem=make_ca("another CA").pem).tls_handshake()
    with pytest.raises(RegistryTLSError, match="not signed by the CA given"):
        secure_registry.client(ca_pem=make_ca("another CA").pem).ping()
    with pytest.raises(RegistryTLSError, match="not signed by a CA this machine trusts"):
        secure_registry.client(ca_pem=None).ping()


def test_certificate_without_the_ip_san(start_registry: Callable[..., RunningRegistry], ca: MadeCA) -> None:
    registry = start_registry("dns-only", tls=make_server_cert(ca, ips=(), dns=("registry.test",)), ca_pem=ca.pem)
    with pytest.raises(RegistryTLSError) as mismatch:
        registry.client().tls_handshake()
    assert str(mismatch.value) == ("the certificate does not name 127.0.0.1 (an IP address needs an IP SAN); "
                                   "it names DNS:registry.test")


def test_invalid_ca_pem_is_reported(secure_registry: RunningRegistry) -> None:
    with pytest.raises(RegistryTLSError, match="CA certificate given is not a usable PEM"):
        secure_registry.client(ca_pem=b"not a certificate").ping()


# --- no auth, and push=False ---------------------------------------------------------


def test_prove_registry_anonymously(open_registry: RunningRegistry) -> None:
    client = open_registry.client()
    steps = prove_registry(client, marker="anon")
    assert [s.name for s in steps] == ["GET /v2/ without credentials", *PUSH_STEPS]
    assert all(s.ok for s in steps), [(s.name, s.detail) for s in steps if not s.ok]
    assert "no authentication configured" in steps[0].detail
    assert client.tags("regwiz/proof") == []  # the delete took the tag with the manifest

    only_access = prove_registry(client, push=False)
    assert [(s.name, s.ok) for s in only_access] == [("GET /v2/ without credentials", True)]


def test_registry_without_auth_fails_a_proof_that_expects_it(open_registry: RunningRegistry) -> None:
    steps = prove_registry(open_registry.client(username=USER, password=PASSWORD))
    assert [(s.name, s.ok) for s in steps] == [("GET /v2/ without credentials", False)]
    assert "authentication is off" in steps[0].detail


def test_push_pull_and_listing(open_registry: RunningRegistry) -> None:
    client = open_registry.client()
    image = generate_test_image("listing")
    assert client.push_blob("team/app", image.layer) == image.layer_digest
    assert client.push_blob("team/app", image.layer) == image.layer_digest  # present: HEAD 200, no upload
    assert client.push_blob("team/app", image.config) == image.config_digest
    assert client.put_manifest("team/app", "v1", image.manifest, SCHEMA2) == image.manifest_digest
    assert client.get_manifest("team/app", "v1") == (image.manifest, image.manifest_digest)
    assert client.get_blob("team/app", image.config_digest) == image.config
    assert client.catalog() == ["team/app"]
    assert client.tags("team/app") == ["v1"]
    with pytest.raises(RegistryError) as unknown:
        client.tags("team/nothing")
    assert unknown.value.status == 404 and unknown.value.codes == ("NAME_UNKNOWN",)
    assert "repository name not known to registry" in str(unknown.value)
    with pytest.raises(RegistryError, match="not a valid repository name"):
        client.tags("Team/App")


def test_manifest_referring_to_a_missing_blob_is_refused(open_registry: RunningRegistry) -> None:
    image = generate_test_image("missing")
    with pytest.raises(RegistryError) as refused:
        open_registry.client().put_manifest("team/app", "v1", image.manifest, SCHEMA2)
    assert refused.value.status == 400 and "MANIFEST_BLOB_UNKNOWN" in refused.value.codes


# --- network failures ----------------------------------------------------------------


def test_connection_refused() -> None:
    client = RegistryClient(RegistryEndpoint("127.0.0.1", free_port(), tls=False, timeout=2))
    with pytest.raises(RegistryError, match="nothing listens on 127.0.0.1:") as refused:
        client.ping()
    assert "is the registry container running and the port published?" in str(refused.value)
    steps = prove_registry(RegistryClient(RegistryEndpoint("127.0.0.1", free_port(), timeout=2)))
    assert [(s.name, s.ok) for s in steps] == [("TLS handshake", False)]
    assert "nothing listens" in steps[0].detail


def test_silent_port_times_out() -> None:
    # A socket that listens but never accepts: the kernel completes the connection, nobody answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        for tls in (False, True):
            client = RegistryClient(RegistryEndpoint("127.0.0.1", port, tls=tls, timeout=0.3))
            with pytest.raises(RegistryError, match=f"127.0.0.1:{port} did not answer within 0.3 s: a firewall"):
                client.ping()


# --- redirects -----------------------------------------------------------------------


def test_get_blob_follows_a_storage_redirect(open_registry: RunningRegistry) -> None:
    """A front that answers 307 to the real registry, as storage drivers redirect blob GETs."""
    image = generate_test_image("redirect")
    assert open_registry.client().push_blob("team/app", image.layer) == image.layer_digest
    seen: list[str] = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(f"{self.path} auth={self.headers.get('Authorization') is not None}")
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{open_registry.port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    front = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    try:
        client = RegistryClient(RegistryEndpoint("127.0.0.1", front.server_address[1], tls=False, timeout=5,
                                                 username=USER, password=PASSWORD))
        assert client.get_blob("team/app", image.layer_digest) == image.layer
    finally:
        front.shutdown()
        front.server_close()
    assert seen == [f"/v2/team/app/blobs/{image.layer_digest} auth=True"]


# --- registry configurations that refuse ---------------------------------------------


def test_pull_through_cache_refuses_pushes(start_registry: Callable[..., RunningRegistry]) -> None:
    # 2.8.2 checks its remote when it starts (and panics if it cannot reach it): start the remote first.
    upstream = start_registry("upstream")
    cache = start_registry("cache", proxy=f"http://127.0.0.1:{upstream.port}")
    client = cache.client()
    image = generate_test_image("cache")
    with pytest.raises(RegistryError) as refused:
        client.push_blob("library/proof", image.layer)
    # What distribution 2.8.2 answers to POST /v2/<repo>/blobs/uploads/ on a proxy: 405, code UNSUPPORTED.
    assert refused.value.status == 405 and refused.value.codes == ("UNSUPPORTED",)
    assert str(refused.value) == ("this registry refuses pushes (a pull-through cache is read-only) (the registry "
                                  "says UNSUPPORTED: The operation is unsupported.)")

    steps = prove_registry(client)
    # The two blobs go up together: both are refused, and both are said.
    assert [(s.name, s.ok) for s in steps] == [("GET /v2/ without credentials", True), ("push layer", False),
                                               ("push config", False)]
    assert all("refuses pushes" in s.detail for s in steps[1:])
    assert [s.name for s in prove_registry(client, push=False)] == ["GET /v2/ without credentials"]

    # What it can do: serve what the upstream holds.
    assert upstream.client().push_blob("library/proof", image.layer) == image.layer_digest
    assert client.get_blob("library/proof", image.layer_digest) == image.layer


def test_delete_disabled(start_registry: Callable[..., RunningRegistry]) -> None:
    registry = start_registry("no-delete", delete=False)
    steps = prove_registry(registry.client(), marker="no-delete")
    assert [s.ok for s in steps] == [True] * 7 + [False]
    assert steps[-1].name == "delete"
    assert "deletion is disabled in its config" in steps[-1].detail
    with pytest.raises(RegistryError) as refused:
        registry.client().delete_manifest("regwiz/proof", generate_test_image("no-delete").manifest_digest)
    assert refused.value.status == 405 and refused.value.codes == ("UNSUPPORTED",)


# --- the generated image -------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_generate_test_image_is_deterministic_and_self_consistent() -> None:
    first, again, other = generate_test_image("m1"), generate_test_image("m1"), generate_test_image("m2")
    assert first == again
    assert first.layer != other.layer and first.manifest_digest != other.manifest_digest

    assert first.layer_digest == _sha256(first.layer)
    assert first.config_digest == _sha256(first.config)
    assert first.manifest_digest == _sha256(first.manifest)
    manifest = json.loads(first.manifest)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == SCHEMA2
    assert manifest["config"] == {"mediaType": "application/vnd.docker.container.image.v1+json",
                                  "size": len(first.config), "digest": first.config_digest}
    assert manifest["layers"] == [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                   "size": len(first.layer), "digest": first.layer_digest}]

    tar_bytes = gzip.decompress(first.layer)
    config = json.loads(first.config)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [_sha256(tar_bytes)]}
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.mode, member.uid, member.gid, member.mtime) == ("regwiz-proof.txt", 0o644, 0,
                                                                                    0, 0)
        content = tar.extractfile(member).read()  # type: ignore[union-attr]
    assert b"m1" in content


# --- kept-alive connections ----------------------------------------------------------


def connections_opened(client: RegistryClient) -> list[object]:
    """The connections ``client`` opens from now on, in a list that grows as it opens them."""
    opened: list[object] = []
    original = client._connection

    def counted(target, own):  # type: ignore[no-untyped-def]
        connection = original(target, own)
        opened.append(connection)
        return connection

    client._connection = counted  # type: ignore[method-assign]
    return opened


def test_a_proof_over_tls_uses_one_kept_alive_connection(secure_registry: RunningRegistry) -> None:
    """The proof's requests on kept-alive TLS connections to the real registry, as Docker's clients do:
    two, as its two blobs go up at once (one connection each), then every later request on one of them;
    the handshake step has its own socket."""
    client = secure_registry.client()
    opened = connections_opened(client)
    steps = prove_registry(client, "regwiz/proof", marker="kept-alive")
    assert all(s.ok for s in steps), [(s.name, s.detail) for s in steps if not s.ok]
    assert len(opened) == 2
    client.close()
    assert client._idle == {}


def test_the_proof_pushes_its_fresh_blobs_without_asking_first(secure_registry: RunningRegistry) -> None:
    """The proof's image is new (its marker), so no HEAD asks whether its blobs are there: with htpasswd
    each request costs the registry a bcrypt check. Run twice with one marker (its blobs then present),
    the upload still succeeds: storing the same bytes again is harmless."""
    client = secure_registry.client()
    sent: list[tuple[str, str]] = []
    original = client._request

    def recorded(method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append((method, url.split("?")[0]))
        return original(method, url, *args, **kwargs)

    client._request = recorded  # type: ignore[method-assign]
    for _run in range(2):
        sent.clear()
        steps = prove_registry(client, "regwiz/proof", marker="fresh")
        assert all(s.ok for s in steps), [(s.name, s.detail) for s in steps if not s.ok]
        blob_requests = [(m, u) for m, u in sent if "/blobs/" in u and m != "GET"]
        assert sorted(m for m, _u in blob_requests) == ["POST", "POST", "PUT", "PUT"], sent  # (at once)
    # Elsewhere the HEAD stays: a blob the registry has is not sent again.
    sent.clear()
    assert client.push_blob("regwiz/proof", generate_test_image("fresh").layer) == \
        generate_test_image("fresh").layer_digest
    assert [m for m, _u in sent] == ["HEAD"]
    client.close()


def test_a_kept_connection_the_server_closed_is_replaced() -> None:
    """A server that closes the connection after each answer without saying so (no `Connection: close`):
    the next request finds it closed and goes again on a new one."""
    answered: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            answered.append(self.path)
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            self.close_connection = True  # closed, silently

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = RegistryClient(RegistryEndpoint("127.0.0.1", server.server_address[1], tls=False, timeout=5))
        assert [client.ping(with_auth=False) for _round in range(3)] == [401, 401, 401]
        assert answered == ["/v2/"] * 3
        client.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_connection_idle_too_long_is_not_reused(open_registry: RunningRegistry,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Past KEEP_IDLE a kept connection is closed and a new one opened (a NAT may have dropped it silently)."""
    import app.registry.client as client_module

    client = open_registry.client()
    opened = connections_opened(client)
    client.ping()
    client.ping()
    assert len(opened) == 1
    monkeypatch.setattr(client_module, "KEEP_IDLE", 0.0)
    client.ping()
    assert len(opened) == 2
    client.close()
