"""Controller-side secrets for the baselines: a CA, a server certificate for the registry's address,
and an htpasswd line (bcrypt). Both baselines run this on the controller, as regwiz does its own.

ansible-core has no community.crypto (openssl_* modules) and no passlib, so the playbook runs this with
the controller's Python (cryptography and bcrypt come with the baselines' venv: paramiko needs them).
The openssl CLI would do as well; Python keeps it one process and the same key type as regwiz (P-256).

Usage: python make_secrets.py OUT_DIR ADDRESS USER   (password in $REGISTRY_PASSWORD)
Writes OUT_DIR/ca.crt, server.crt, server.key, htpasswd; does nothing when they are there already.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make(out: Path, address: str, user: str, password: str) -> bool:
    """Write the four files; False when they exist already (nothing changed)."""
    files = [out / n for n in ("ca.crt", "server.crt", "server.key", "htpasswd")]
    if all(f.exists() for f in files):
        return False
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder()
          .subject_name(_name("baseline registry CA")).issuer_name(_name("baseline registry CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        san = x509.DNSName(address)
    cert = (x509.CertificateBuilder().subject_name(_name(address)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (out / "ca.crt").write_bytes(ca.public_bytes(pem))
    (out / "server.crt").write_bytes(cert.public_bytes(pem))
    (out / "server.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (out / "server.key").chmod(0o600)
    # distribution reads only bcrypt entries; $2y$ is what Apache's htpasswd -B writes.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode().replace("$2b$", "$2y$", 1)
    (out / "htpasswd").write_text(f"{user}:{hashed}\n")
    (out / "htpasswd").chmod(0o600)
    return True


if __name__ == "__main__":
    changed = make(Path(sys.argv[1]), sys.argv[2], sys.argv[3], os.environ["REGISTRY_PASSWORD"])
    print("changed" if changed else "unchanged")
