"""Host aliases from ~/.ssh/config, resolved with asyncssh's own config parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import asyncssh


@dataclass(frozen=True)
class ResolvedHost:
    alias: str
    host: str  # HostName, or the alias itself when the config names none
    port: int | None  # from the config, if it sets one
    user: str | None
    identity_files: list[str] = field(default_factory=list)

    @property
    def is_alias(self) -> bool:
        return self.host != self.alias or self.port is not None or self.user is not None


def default_config_path() -> Path:
    return Path("~/.ssh/config").expanduser()


def resolve(alias: str, config_path: Path | None = None) -> ResolvedHost:
    """What ~/.ssh/config says about ``alias`` (nothing, when it has no entry)."""
    path = config_path or default_config_path()
    if not path.is_file():
        return ResolvedHost(alias, alias, None, None)
    try:
        # client_keys/agent_path None: only the config is read here, no key is loaded.
        options = asyncssh.SSHClientConnectionOptions(
            host=alias, config=[str(path)], client_keys=None, agent_path=None)
    except (OSError, asyncssh.Error, ValueError):
        return ResolvedHost(alias, alias, None, None)
    config = options.config
    port = config.get("Port")
    user = config.get("User")
    identity = config.get("IdentityFile") or []
    # (asyncssh's config values are untyped: a port is an int, identity files a list of paths)
    return ResolvedHost(alias, options.host or alias, int(str(port)) if port else None,
                        str(user) if user else None, [str(i) for i in cast(list, identity)])
