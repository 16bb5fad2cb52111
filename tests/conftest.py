from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import pytest_asyncio

pytest_plugins = ["tests.testbed.fixtures"]


@pytest.fixture
def chinese() -> Iterator[None]:
    """The test runs in Simplified Chinese; English again after it, whatever happened."""
    from app import i18n

    assert i18n.use("zh_CN") == "zh_CN", "the zh_CN catalog is not compiled (./dev compiles it)"
    try:
        yield
    finally:
        i18n.use("en")


@pytest.fixture(autouse=True)
def regwiz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own config and state folders: a user's are never touched."""
    home = tmp_path / "regwiz-home"
    monkeypatch.setenv("REGWIZ_HOME", str(home))
    yield home


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tls_registry(testbed, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A registry with TLS and auth, deployed by regwiz on an `ecs` host of its own."""
    from tests.registry_helpers import deployed

    host = testbed.start("ecs")[0]
    return await deployed(testbed, host, tmp_path_factory.mktemp("tls-registry"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def insecure_registry(testbed, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A registry without TLS or auth (the seed's insecure way), on an `ecs` host of its own."""
    from tests.registry_helpers import deployed

    host = testbed.start("ecs")[0]
    return await deployed(testbed, host, tmp_path_factory.mktemp("plain-registry"), tls="none", auth="none")


@pytest.fixture
def cli_env(testbed, regwiz_home: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The environment of a `regwiz` command run against the testbed (a registry password in it)."""
    import os
    import secrets

    from tests.registry_helpers import unreachable_probe

    assert testbed.images is not None
    return {**os.environ, "REGWIZ_HOME": str(regwiz_home),
            "REGWIZ_UPLOAD_IMAGE": testbed.images.registry, "REGWIZ_HUB_PROBE_URL": unreachable_probe(testbed),
            "REGISTRY_CI_PASSWORD": "ci-" + secrets.token_urlsafe(10)}
