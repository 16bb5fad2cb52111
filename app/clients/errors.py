"""A client's pull error, translated into its cause and its fix."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.i18n import N_, _


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    fix: str


RULES: tuple[tuple[str, str, str], ...] = (
    (r"server gave HTTP response to HTTPS client",
     N_("the registry speaks plain HTTP and this daemon expects HTTPS"),
     N_("give the registry TLS (recommended), or add --insecure-registry {address} to this daemon and restart it")),
    (r"oversized record received",
     N_("the registry speaks plain HTTP and this (older) daemon expects HTTPS"),
     N_("give the registry TLS, or add --insecure-registry {address} to this daemon and restart it")),
    (r"doesn't contain any IP SANs|cannot validate certificate for .* because",
     N_("the registry's certificate does not name the address used (an IP address needs an IP SAN)"),
     N_("re-issue the certificate with this address (regwiz's deploy step adds every address you give)")),
    (r"certificate signed by unknown authority|x509: .*unknown authority",
     N_("this machine does not trust the CA that signed the registry's certificate"),
     N_("put the CA in /etc/docker/certs.d/{address}/ca.crt (no restart needed)")),
    (r"certificate has expired|not yet valid",
     N_("the certificate's validity does not match this machine's clock"),
     N_("check the clocks (both machines), or re-issue the certificate")),
    (r"no basic auth credentials|unauthorized|401 Unauthorized|authentication required",
     N_("the registry needs a login"),
     "docker login {address}"),
    (r"connection refused",
     N_("nothing listens on the registry's port from this machine"),
     N_("check that the registry runs and that firewalls and security groups let the port in")),
    (r"i/o timeout|context deadline exceeded|TLS handshake timeout",
     N_("the registry does not answer from this machine"),
     N_("a firewall or cloud security group probably drops the port")),
)


def explain_pull_error(text: str, address: str) -> Diagnosis | None:
    for pattern, cause, fix in RULES:
        if re.search(pattern, text, re.I):
            return Diagnosis(_(cause), _(fix).format(address=address))
    return None
