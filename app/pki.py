"""regwiz's own certificate authority and the registry's server certificates.

The CA lives in ``state_dir()/ca`` (``ca.crt`` + ``ca.key``) and is reused for
every deploy, so clients trust it once. Server certificates carry an IP SAN
for every address the registry is reached by: Docker refuses an IP-addressed
registry whose certificate has none ("x509: cannot validate certificate ...
because it doesn't contain any IP SANs").

Everything is done with ``cryptography``; nothing shells out to openssl.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.paths import ensure_private_dir, state_dir, write_atomic

try:
    import fcntl
except ImportError:  # no flock (Windows): there two runs starting together can still each make a CA
    fcntl = None  # type: ignore[assignment]

CA_CERT_NAME = "ca.crt"
CA_KEY_NAME = "ca.key"
CA_VALID_DAYS = 3650
# Clocks of clients and servers drift; a certificate valid "from now" would be
# refused by a client a few seconds behind.
BACKDATE = timedelta(minutes=5)
CN_MAX = 64  # X.520 upper bound for commonName

_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class PKIError(Exception):
    """A CA or certificate problem, with a message fit for the user."""


@dataclass(frozen=True)
class CertificateAuthority:
    cert_pem: bytes
    key_pem: bytes  # PKCS8 PEM, unencrypted: protected by file mode 0600
    cert_path: Path
    key_path: Path

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def fingerprint_sha256(self) -> str:
        digest = self.certificate.fingerprint(hashes.SHA256())
        return ":".join(f"{b:02X}" for b in digest)

    def private_key(self) -> PrivateKeyTypes:
        return serialization.load_pem_private_key(self.key_pem, password=None)


@dataclass(frozen=True)
class IssuedCertificate:
    cert_pem: bytes
    key_pem: bytes
    sans: tuple[str, ...]  # normalised: IPs as str(), DNS names lower-case
    not_after: datetime


# --- small helpers -----------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_der(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    return _public_der(cert.public_key()) == _public_der(key.public_key())


# --- certificate authority ---------------------------------------------------


def ca_dir() -> Path:
    return state_dir() / "ca"


def load_or_create_ca(
    directory: Path | None = None, common_name: str = "regwiz registry CA"
) -> CertificateAuthority:
    """The CA in ``directory`` (default ``ca_dir()``), made on first use.

    An existing CA is validated and reused, never replaced: replacing it would
    silently break every client that already trusts it.
    """
    directory = directory or ca_dir()
    cert_path, key_path = directory / CA_CERT_NAME, directory / CA_KEY_NAME
    if cert_path.exists() and key_path.exists():
        return _load_ca(cert_path, key_path)
    with _one_maker(directory):
        if cert_path.exists() and key_path.exists():  # another regwiz run made it while this one waited
            return _load_ca(cert_path, key_path)
        if cert_path.exists() or key_path.exists():
            present, missing = (cert_path, key_path) if cert_path.exists() else (key_path, cert_path)
            raise PKIError(
                f"Incomplete CA in {directory}: {present.name} exists but {missing.name} is missing. "
                "Restore the missing file, or move both away to create a new CA "
                "(clients that trust the old one must then be updated)."
            )
        return _create_ca(directory, cert_path, key_path, common_name)


@contextmanager
def _one_maker(directory: Path) -> Iterator[None]:
    """Held while a CA is made in ``directory``: two regwiz runs starting together (two deploys, a deploy and
    a `clients` run) would otherwise each make one, the last written would win, and the other run would
    sign and prove its registry with a CA nobody keeps. An flock on a file beside the folder (not in it:
    the folder holds the CA alone)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory.parent / f".{directory.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the fd is closed
        yield
    finally:
        os.close(fd)


def _load_ca(cert_path: Path, key_path: Path) -> CertificateAuthority:
    cert_pem, key_pem = _read(cert_path, "CA certificate"), _read(key_path, "CA key")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise PKIError(f"CA certificate {cert_path} cannot be read: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise PKIError(f"CA key {key_path} cannot be read: {exc}") from exc
    if not _key_matches(cert, key):
        raise PKIError(f"CA key {key_path} does not belong to the CA certificate {cert_path}.")
    if not _is_ca(cert):
        raise PKIError(f"{cert_path} is not a CA certificate (BasicConstraints CA:TRUE missing).")
    if cert.not_valid_after_utc <= _now():
        raise PKIError(
            f"CA certificate {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}. "
            "Move the CA folder away to create a new one, then re-trust it on clients."
        )
    return CertificateAuthority(cert_pem, key_pem, cert_path, key_path)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _create_ca(directory: Path, cert_path: Path, key_path: Path, common_name: str) -> CertificateAuthority:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:CN_MAX])])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=CA_VALID_DAYS))
        # path_length=0: this CA signs server certificates only, never sub-CAs.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        # OpenSSL's strict mode (Python >= 3.13 default) wants an AKI everywhere.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)
    ensure_private_dir(directory)
    write_atomic(key_path, key_pem, 0o600)  # key first: a cert without its key is useless
    write_atomic(cert_path, cert_pem, 0o644)
    return CertificateAuthority(cert_pem, key_pem, cert_path, key_path)


def _key_usage(ca: bool) -> x509.KeyUsage:
    """A CA signs certificates (and CRLs); a server only signs its TLS handshakes."""
    return x509.KeyUsage(
        digital_signature=not ca,  # all ECDHE/ECDSA TLS needs
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_key_usage() -> x509.KeyUsage:
    return _key_usage(ca=True)


def _server_key_usage() -> x509.KeyUsage:
    return _key_usage(ca=False)


# --- names -------------------------------------------------------------------


def _normalise_name(raw: str) -> str | ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address object, or a validated lower-case DNS name."""
    name = raw.strip()
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name  # "[::1]" URL form
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return _validate_dns(name)
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        raise PKIError(f"{raw!r}: an address with a zone (%...) cannot go in a certificate.")
    return ip


def _validate_dns(raw: str) -> str:
    name = raw.lower().rstrip(".")  # a trailing dot is the same name, fully qualified
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise PKIError(
            f"{raw!r} is neither an IP address nor a valid host name "
            "(letters, digits and '-' in dot-separated labels of at most 63 characters)."
        )
    return name


def _normalised_names(names: Iterable[str]) -> list[str | ipaddress.IPv4Address | ipaddress.IPv6Address]:
    seen: list[str | ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for raw in names:
        value = _normalise_name(raw)
        if value not in seen:
            seen.append(value)
    return seen


def _san_entry(value: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> x509.GeneralName:
    return x509.DNSName(value) if isinstance(value, str) else x509.IPAddress(value)


# --- server certificates -----------------------------------------------------


def issue_server_certificate(ca: CertificateAuthority, names: Iterable[str], days: int = 825) -> IssuedCertificate:
    """A server certificate for every address and DNS name the registry is reached by.

    825 days: the longest lifetime Apple platforms accept for TLS server certs.
    """
    values = _normalised_names(names)
    if not values:
        raise PKIError("A server certificate needs at least one address or host name.")
    if days < 1:
        raise PKIError(f"Certificate lifetime must be at least one day, not {days}.")
    key = _new_key()
    ca_cert = ca.certificate
    sans = tuple(str(v) for v in values)
    now = _now()
    not_after = now + timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0][:CN_MAX])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_san_entry(v) for v in values]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_server_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .sign(ca.private_key(), hashes.SHA256())  # type: ignore[arg-type]
    )
    return IssuedCertificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=_key_pem(key),
        sans=sans,
        not_after=cert.not_valid_after_utc,
    )


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    # A reused CA made elsewhere may lack an SKI: derive the id from its key then.
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _sans_of(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    ips = {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    return ips | {dns.lower() for dns in ext.get_values_for_type(x509.DNSName)}


def certificate_sans(cert_pem: bytes) -> set[str]:
    """IP addresses and DNS names in the certificate's SAN extension."""
    try:
        return _sans_of(x509.load_pem_x509_certificate(cert_pem))
    except ValueError as exc:
        raise PKIError(f"Certificate cannot be read: {exc}") from exc


def certificate_matches(
    cert_pem: bytes,
    key_pem: bytes | None,
    ca: CertificateAuthority,
    names: Iterable[str],
    min_days_left: int = 30,
) -> bool:
    """Whether an existing server certificate can be kept as it is (idempotent deploys).

    Invalid ``names`` raise PKIError (as issuing would); a certificate that
    cannot be read just does not match.
    """
    wanted = {str(v) for v in _normalised_names(names)}
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert.verify_directly_issued_by(ca.certificate)
        if key_pem is not None and not _key_matches(cert, serialization.load_pem_private_key(key_pem, None)):
            return False
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    left = cert.not_valid_after_utc - _now()
    return _sans_of(cert) == wanted and left > timedelta(days=min_days_left)


def load_pem_pair(cert_path: Path, key_path: Path) -> tuple[bytes, bytes]:
    """A user-provided certificate (chain allowed, leaf first) and its unencrypted key."""
    cert_pem, key_pem = _read(cert_path, "certificate"), _read(key_path, "key")
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError as exc:
        raise PKIError(f"{cert_path} does not hold a PEM certificate: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as exc:  # cryptography's way of saying "encrypted"
        raise PKIError(f"{key_path} is encrypted; the registry needs an unencrypted key.") from exc
    except ValueError as exc:
        raise PKIError(f"{key_path} does not hold a PEM private key: {exc}") from exc
    if not _key_matches(leaf, key):
        raise PKIError(f"The key in {key_path} does not belong to the certificate in {cert_path}.")
    return cert_pem, key_pem


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PKIError(f"Cannot read the {what} file {path}: {exc.strerror or exc}") from exc


def days_left(cert_pem: bytes) -> int:
    """Whole days until the certificate expires; negative once it has."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise PKIError(f"Certificate cannot be read: {exc}") from exc
    return (cert.not_valid_after_utc - _now()).days


# --- rotating the CA ---------------------------------------------------------
# A new CA is made beside the old one: the old is kept in ``ca_dir()/ca-previous`` until every
# client trusts the new one alone, so a rotation that stops half-way can be finished later.

PREVIOUS_DIR_NAME = "ca-previous"
_NEXT_DIR_NAME = ".ca-next"  # the new CA, complete, before it replaces the current one


def previous_ca_dir() -> Path:
    return ca_dir() / PREVIOUS_DIR_NAME


def previous_ca() -> CertificateAuthority | None:
    """The CA a rotation in progress moves away from, or None."""
    directory = previous_ca_dir()
    if not (directory / CA_CERT_NAME).exists():
        return None
    return _load_ca(directory / CA_CERT_NAME, directory / CA_KEY_NAME)


def start_rotation(common_name: str = "regwiz registry CA") -> tuple[CertificateAuthority, CertificateAuthority]:
    """(old, new): the current CA kept as the previous one, a new CA made the current one.

    Each file is written whole before the next step (the old CA copied first, the new one made in a
    folder of its own, then renamed over the current files), so a crash leaves one CA that works.
    A rotation already started is not started again: its two CAs are returned.
    """
    old_kept = previous_ca()
    current = load_or_create_ca()
    if old_kept is not None:
        if old_kept.cert_pem != current.cert_pem:
            return old_kept, current
        old = old_kept  # crashed after the copy: make the new CA now
    else:
        ensure_private_dir(previous_ca_dir())
        write_atomic(previous_ca_dir() / CA_KEY_NAME, current.key_pem, 0o600)
        write_atomic(previous_ca_dir() / CA_CERT_NAME, current.cert_pem, 0o644)
        old = current
    staging = ca_dir() / _NEXT_DIR_NAME
    for name in (CA_CERT_NAME, CA_KEY_NAME):
        (staging / name).unlink(missing_ok=True)
    made = _create_ca(staging, staging / CA_CERT_NAME, staging / CA_KEY_NAME, common_name)
    os.replace(staging / CA_KEY_NAME, ca_dir() / CA_KEY_NAME)
    os.replace(staging / CA_CERT_NAME, ca_dir() / CA_CERT_NAME)
    staging.rmdir()
    return old, CertificateAuthority(made.cert_pem, made.key_pem, ca_dir() / CA_CERT_NAME, ca_dir() / CA_KEY_NAME)


def finish_rotation() -> None:
    """Forget the previous CA: no client trusts it any more."""
    directory = previous_ca_dir()
    for name in (CA_CERT_NAME, CA_KEY_NAME):
        (directory / name).unlink(missing_ok=True)
    if directory.exists():
        directory.rmdir()


def trust_bundle(*cert_pems: bytes) -> bytes:
    """Several CA certificates in one PEM file, each once: Docker, containerd and podman trust every
    certificate in a ca.crt (moby daemon/pkg/registry/registry.go loadTLSConfig: AppendCertsFromPEM)."""
    seen: list[bytes] = []
    for pem in cert_pems:
        for cert in x509.load_pem_x509_certificates(pem):
            block = cert.public_bytes(serialization.Encoding.PEM)
            if block not in seen:
                seen.append(block)
    return b"".join(seen)


def fingerprints(cert_pems: bytes) -> list[str]:
    """SHA-256 fingerprints of every certificate in a PEM text (a ca.crt may hold several)."""
    try:
        certs = x509.load_pem_x509_certificates(cert_pems)
    except ValueError:
        return []
    return [":".join(f"{b:02X}" for b in c.fingerprint(hashes.SHA256())) for c in certs]
