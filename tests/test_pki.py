"""regwiz's CA and server certificates, down to a real TLS handshake."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import socket
import ssl
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from app import pki
from app.paths import state_dir


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> pki.CertificateAuthority:
    """One CA for the read-only tests: key generation is cheap, but not free."""
    return pki.load_or_create_ca(tmp_path_factory.mktemp("shared") / "ca")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_created_in_state_dir_with_private_modes() -> None:
    created = pki.load_or_create_ca()
    assert pki.ca_dir() == state_dir() / "ca"
    assert created.cert_path == pki.ca_dir() / "ca.crt" and created.key_path == pki.ca_dir() / "ca.key"
    assert mode(pki.ca_dir()) == 0o700
    assert mode(created.key_path) == 0o600
    assert mode(created.cert_path) == 0o644
    assert created.key_path.read_bytes() == created.key_pem
    assert b"BEGIN PRIVATE KEY" in created.key_pem  # PKCS8, unencrypted
    assert [p.name for p in pki.ca_dir().iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_ca_extensions() -> None:
    cert = pki.load_or_create_ca(common_name="Test CA").certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert cert.subject.rfc4514_string() == "CN=Test CA"
    assert timedelta(days=3649) < cert.not_valid_after_utc - cert.not_valid_before_utc < timedelta(days=3651)


def test_ca_is_reused_and_files_untouched() -> None:
    first = pki.load_or_create_ca()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (first.cert_path, first.key_path)}
    second = pki.load_or_create_ca()
    assert second.fingerprint_sha256 == first.fingerprint_sha256
    assert second.key_pem == first.key_pem
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before


def _make_ca_when_released(directory: str, barrier: "multiprocessing.synchronize.Barrier",
                            out: "multiprocessing.Queue[bytes]") -> None:
    barrier.wait()
    out.put(pki.load_or_create_ca(Path(directory)).cert_pem)


def test_regwiz_runs_starting_together_make_one_ca(tmp_path: Path) -> None:
    """Two regwiz processes started together with no CA yet (two deploys half a second apart did this on
    the testbed) must end with one CA: each used to make its own, the last written won, and the other run
    proved its registry against a CA that had not signed its certificate."""
    context = multiprocessing.get_context("fork")
    runs = 4
    barrier, out = context.Barrier(runs), context.Queue()
    processes = [context.Process(target=_make_ca_when_released, args=(str(tmp_path / "ca"), barrier, out))
                 for _ in range(runs)]
    for process in processes:
        process.start()
    made = [out.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    on_disk = (tmp_path / "ca" / "ca.crt").read_bytes()
    assert made == [on_disk] * runs
    assert pki.load_or_create_ca(tmp_path / "ca").cert_pem == on_disk


def test_fingerprint_format(ca: pki.CertificateAuthority) -> None:
    parts = ca.fingerprint_sha256.split(":")
    assert len(parts) == 32 and all(len(p) == 2 and p == p.upper() for p in parts)
    int("".join(parts), 16)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda c, k: k.write_bytes(b"not a key\n"), "CA key"),
        (lambda c, k: c.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
         "CA certificate"),
        (lambda c, k: k.unlink(), "Incomplete CA"),
        (lambda c, k: c.unlink(), "Incomplete CA"),
    ],
)
def test_broken_ca_raises_and_is_not_overwritten(damage, message: str) -> None:
    made = pki.load_or_create_ca()
    damage(made.cert_path, made.key_path)
    left = {p: p.read_bytes() for p in (made.cert_path, made.key_path) if p.exists()}
    with pytest.raises(pki.PKIError, match=message):
        pki.load_or_create_ca()
    assert {p: p.read_bytes() for p in (made.cert_path, made.key_path) if p.exists()} == left


def test_key_of_another_ca_is_refused(tmp_path: Path) -> None:
    made = pki.load_or_create_ca()
    other = pki.load_or_create_ca(tmp_path / "other")
    made.key_path.write_bytes(other.key_pem)
    with pytest.raises(pki.PKIError, match="does not belong"):
        pki.load_or_create_ca()


def test_a_server_certificate_is_not_accepted_as_ca(ca: pki.CertificateAuthority, tmp_path: Path) -> None:
    issued = pki.issue_server_certificate(ca, ["10.0.0.1"])
    (tmp_path / "ca.crt").write_bytes(issued.cert_pem)
    (tmp_path / "ca.key").write_bytes(issued.key_pem)
    with pytest.raises(pki.PKIError, match="not a CA"):
        pki.load_or_create_ca(tmp_path)


def test_issued_certificate(ca: pki.CertificateAuthority) -> None:
    issued = pki.issue_server_certificate(ca, ["10.213.0.5", "Registry.Example.com", "::1", "10.213.0.5"])
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    cert.verify_directly_issued_by(ca.certificate)  # raises if not signed by the CA

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.213.0.5", "::1"]
    assert san.get_values_for_type(x509.DNSName) == ["registry.example.com"]
    assert issued.sans == ("10.213.0.5", "registry.example.com", "::1")
    assert pki.certificate_sans(issued.cert_pem) == set(issued.sans)

    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert cert.subject.rfc4514_string() == "CN=10.213.0.5"
    assert cert.not_valid_after_utc == issued.not_after
    assert 824 <= pki.days_left(issued.cert_pem) <= 825


def test_long_first_name_is_truncated_in_cn(ca: pki.CertificateAuthority) -> None:
    name = ".".join(["a" * 60] * 3)  # 182 characters: a valid DNS name, too long for a CN
    cert = x509.load_pem_x509_certificate(pki.issue_server_certificate(ca, [name]).cert_pem)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == name[:64]


@pytest.mark.parametrize(
    "bad",
    ["regi stry.example.com", "under_score.example", "-lead.example", "trail-.example", "a..b", "x" * 64 + ".com",
     "exa:mple", "", "fe80::1%eth0", "é.example"],
)
def test_invalid_names_are_rejected(ca: pki.CertificateAuthority, bad: str) -> None:
    with pytest.raises(pki.PKIError):
        pki.issue_server_certificate(ca, [bad])


def test_no_names_is_an_error(ca: pki.CertificateAuthority) -> None:
    with pytest.raises(pki.PKIError, match="at least one"):
        pki.issue_server_certificate(ca, [])


def test_bracketed_ipv6_and_trailing_dot_are_normalised(ca: pki.CertificateAuthority) -> None:
    issued = pki.issue_server_certificate(ca, ["[2001:DB8::1]", "host.example."])
    assert issued.sans == ("2001:db8::1", "host.example")


def test_certificate_matches(ca: pki.CertificateAuthority, tmp_path: Path) -> None:
    names = ["10.213.0.5", "registry.example.com"]
    issued = pki.issue_server_certificate(ca, names)
    other_ca = pki.load_or_create_ca(tmp_path / "other")
    short = pki.issue_server_certificate(ca, names, days=10)
    stranger = pki.issue_server_certificate(ca, names)

    assert pki.certificate_matches(issued.cert_pem, issued.key_pem, ca, names)
    assert pki.certificate_matches(issued.cert_pem, None, ca, ["REGISTRY.example.com", "10.213.0.5"])
    assert not pki.certificate_matches(issued.cert_pem, issued.key_pem, ca, ["10.213.0.5"])
    assert not pki.certificate_matches(issued.cert_pem, issued.key_pem, ca, names + ["10.213.0.6"])
    assert not pki.certificate_matches(issued.cert_pem, issued.key_pem, other_ca, names)
    assert not pki.certificate_matches(short.cert_pem, short.key_pem, ca, names)
    assert pki.certificate_matches(short.cert_pem, short.key_pem, ca, names, min_days_left=5)
    assert not pki.certificate_matches(issued.cert_pem, stranger.key_pem, ca, names)
    assert not pki.certificate_matches(b"garbage", None, ca, names)
    assert not pki.certificate_matches(issued.cert_pem, b"garbage", ca, names)


def test_load_pem_pair(ca: pki.CertificateAuthority, tmp_path: Path) -> None:
    first = pki.issue_server_certificate(ca, ["a.example"])
    second = pki.issue_server_certificate(ca, ["b.example"])
    cert, key, other_key = tmp_path / "s.crt", tmp_path / "s.key", tmp_path / "o.key"
    cert.write_bytes(first.cert_pem + ca.cert_pem)  # a chain, leaf first
    key.write_bytes(first.key_pem)
    other_key.write_bytes(second.key_pem)

    assert pki.load_pem_pair(cert, key) == (first.cert_pem + ca.cert_pem, first.key_pem)
    with pytest.raises(pki.PKIError, match="o.key does not belong"):
        pki.load_pem_pair(cert, other_key)
    with pytest.raises(pki.PKIError, match="missing.crt"):
        pki.load_pem_pair(tmp_path / "missing.crt", key)
    with pytest.raises(pki.PKIError, match="s.key does not hold a PEM certificate"):
        pki.load_pem_pair(key, key)
    with pytest.raises(pki.PKIError, match="s.crt does not hold a PEM private key"):
        pki.load_pem_pair(cert, cert)


def test_days_left_is_negative_after_expiry(ca: pki.CertificateAuthority) -> None:
    assert pki.days_left(pki.issue_server_certificate(ca, ["a.example"], days=10).cert_pem) == 9
    with pytest.raises(pki.PKIError):
        pki.days_left(b"nope")


# --- a real handshake ---------------------------------------------------------


def handshake(ca: pki.CertificateAuthority, names: list[str], tmp_path: Path) -> None:
    """Serve the issued certificate on 127.0.0.1 and connect trusting only the CA."""
    issued = pki.issue_server_certificate(ca, names)
    (tmp_path / "server.crt").write_bytes(issued.cert_pem)
    (tmp_path / "server.key").write_bytes(issued.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError):
            pass  # the client refused us: that is what some tests expect

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # as Python >= 3.13 does by default
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.recv(2) == b"ok"
    finally:
        thread.join(5)
        listener.close()


def test_tls_handshake_with_ip_san_succeeds(ca: pki.CertificateAuthority, tmp_path: Path) -> None:
    handshake(ca, ["127.0.0.1"], tmp_path)


def test_tls_handshake_without_ip_san_fails(ca: pki.CertificateAuthority, tmp_path: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        handshake(ca, ["example.com"], tmp_path)
