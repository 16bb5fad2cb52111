"""The small image every client pulls to prove itself, pushed once from this machine."""

from __future__ import annotations

import asyncio

from app.clients.model import RegistryTarget
from app.registry.client import SCHEMA2, RegistryClient
from app.registry.testimage import generate_test_image


def _push(registry: RegistryTarget) -> str:
    repository, _, tag = registry.test_image.partition(":")
    image = generate_test_image(f"clients of {registry.address}")
    client = RegistryClient(registry.endpoint())
    try:  # the seven requests on one kept-alive connection
        client.push_blob(repository, image.layer)
        client.push_blob(repository, image.config)
        return client.put_manifest(repository, tag or "latest", image.manifest, SCHEMA2)
    finally:
        client.close()


async def ensure_test_image(registry: RegistryTarget) -> str | None:
    """Push the test image (a cache cannot take pushes: its test image must come from upstream)."""
    if registry.cache:
        return None
    return await asyncio.to_thread(_push, registry)
