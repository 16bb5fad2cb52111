"""A thin, synchronous wrapper over the docker CLI for the testbed's own use."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Sequence

LABEL = "io.regwiz.testbed"
OWNER_LABEL = "io.regwiz.testbed.owner"
PREFIX = "regwiz-testbed"


class DockerError(RuntimeError):
    pass


def docker(
    *args: str,
    input: bytes | None = None,
    check: bool = True,
    timeout: float | None = 300,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["docker", *args],
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise DockerError(
            f"docker {' '.join(args[:3])} ... failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc


def docker_json(*args: str) -> Any:
    return json.loads(docker(*args).stdout)


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def ids(kind: str, filters: Sequence[str]) -> list[str]:
    """IDs of containers/networks/volumes/images matching every filter."""
    base = {"container": ["ps", "-aq"], "network": ["network", "ls", "-q"],
            "volume": ["volume", "ls", "-q"], "image": ["image", "ls", "-q"]}[kind]
    args = list(base)
    for f in filters:
        args += ["--filter", f]
    return docker(*args).stdout.split()
