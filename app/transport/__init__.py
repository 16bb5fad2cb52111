"""One way to reach a host: run, stream lines, upload, sudo; over SSH or here."""

from app.transport.base import (
    Command,
    CommandFailed,
    CommandResult,
    SudoError,
    Transport,
    TransportError,
    shell,
)

__all__ = [
    "Command",
    "CommandFailed",
    "CommandResult",
    "SudoError",
    "Transport",
    "TransportError",
    "shell",
]
