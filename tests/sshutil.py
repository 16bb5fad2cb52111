"""Helpers for tests that reach testbed hosts through regwiz's own SSH transport."""

from __future__ import annotations

from pathlib import Path

from app.redact import Secret
from app.transport.hostkeys import KnownHostsStore
from app.transport.ssh import SSHTarget, SSHTransport
from tests.testbed.hosts import TestHost


def trusting_store(host: TestHost, directory: Path) -> KnownHostsStore:
    """A known_hosts store that already trusts the host's real keys."""
    own = directory / f"known_hosts-{host.container}"
    host.write_known_hosts(own)
    return KnownHostsStore(own)


def root_by_password(host: TestHost, directory: Path, **extra: object) -> SSHTransport:
    return SSHTransport(SSHTarget(
        host=host.address, user="root", password=Secret(host.root_password), use_agent=False,
        known_hosts=trusting_store(host, directory), **extra,  # type: ignore[arg-type]
    ))


def by_key(host: TestHost, user: str, directory: Path) -> SSHTransport:
    return SSHTransport(SSHTarget(
        host=host.address, user=user, identity_file=host.client_key.path, use_agent=False,
        known_hosts=trusting_store(host, directory),
    ))
