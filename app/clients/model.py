"""What a client needs to know about the registry, and what kind of machine it is."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.clients.kinds.base import ClientKind  # one class per kind: app/clients/kinds/
from app.redact import Secret
from app.registry.client import RegistryEndpoint

__all__ = ["ClientKind", "RegistryTarget"]


@dataclass(frozen=True)
class RegistryTarget:
    """The registry as clients see it."""

    host: str
    port: int
    tls: bool
    ca_pem: bytes | None  # None: TLS from a public CA, or no TLS
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    cache: bool = False  # a pull-through cache: set as a mirror, never pushed to
    test_image: str = "regwiz/hello:latest"  # what each client pulls to prove itself

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    @property
    def insecure(self) -> bool:
        return not self.tls

    def image_ref(self, address: str | None = None) -> str:
        return f"{address or self.address}/{self.test_image}"

    def endpoint(self, host: str | None = None) -> RegistryEndpoint:
        """For regwiz's own HTTP client, from this machine (optionally by another address)."""
        return RegistryEndpoint(host=host or self.host, port=self.port, tls=self.tls, ca_pem=self.ca_pem,
                                username=self.username,
                                password=self.password.reveal() if self.password else None)
