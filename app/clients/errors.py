"""A client's pull error, translated into its cause and its fix."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    fix: str


RULES: tuple[tuple[str, str, str], ...] = (
    (r"server gave HTTP response to HTTPS client",
     "the registry speaks plain HTTP and this daemon expects HTTPS",
     "give the registry TLS (recommended), or add --insecure-registry {address} to this daemon and restart it"),
    (r"oversized record received",
     "the registry speaks plain HTTP and this (older) daemon expects HTTPS",
     "give the registry TLS, or add --insecure-registry {address} to this daemon and restart it"),
    (r"doesn't contain any IP SANs|cannot validate certificate for .* because",
     "the registry's certificate does not name the address used (an IP address needs an IP SAN)",
     "re-issue the certificate with this address (regwiz's deploy step adds every address you give)"),
    (r"certificate signed by unknown authority|x509: .*unknown authority",
     "this machine does not trust the CA that signed the registry's certificate",
     "put the CA in /etc/docker/certs.d/{address}/ca.crt (no restart needed)"),
    (r"certificate has expired|not yet valid",
     "the certificate's validity does not match this machine's clock",
     "check the clocks (both machines), or re-issue the certificate"),
    (r"no basic auth credentials|unauthorized|401 Unauthorized|authentication required",
     "the registry needs a login",
     "docker login {address}"),
    (r"connection refused",
     "nothing listens on the registry's port from this machine",
     "check that the registry runs and that firewalls and security groups let the port in"),
    (r"i/o timeout|context deadline exceeded|TLS handshake timeout",
     "the registry does not answer from this machine",
     "a firewall or cloud security group probably drops the port"),
)


def explain_pull_error(text: str, address: str) -> Diagnosis | None:
    for pattern, cause, fix in RULES:
        if re.search(pattern, text, re.I):
            return Diagnosis(cause, fix.format(address=address))
    return None
