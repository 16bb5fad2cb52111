"""pytest fixtures for the testbed's hosts (loaded by tests/conftest.py).

- one fixture per flavour (``ecs``, ``ecs_conflict``, ...): a host shared by
  the whole session; tests must leave it as they found it.
- ``fresh_host(flavour)``: a host of its own for a test that changes it.
- ``registry_image``: a tarball of the locally built registry:2.

Every test that uses one of these is marked ``testbed``, and the run ends with
a line that says how many such tests ran against real hosts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.testbed.docker_cli import docker
from tests.testbed.hosts import FLAVOURS, Testbed, TestHost
from tests.testbed.images import registry_tarball

TESTBED_FIXTURES = {"testbed", "testbed_hosts", "fresh_host", "registry_image", *FLAVOURS}


def _docker_available() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    if docker("info", "--format", "{{.ID}}", check=False, timeout=20).returncode != 0:
        return "dockerd is not running"
    return None


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    problem = _docker_available()
    if problem:
        # A failure, not a skip: a skipped testbed test is no test at all.
        pytest.fail(f"the testbed needs Docker: {problem}. Run the README's test command "
                    "(./dev test), which installs and starts what the testbed needs.", pytrace=False)
    bed = Testbed(tmp_path_factory.mktemp("testbed"))
    bed.open()
    try:
        yield bed
    finally:
        bed.close()


@pytest.fixture(scope="session")
def testbed_hosts(testbed: Testbed) -> dict[str, TestHost]:
    """Every flavour, started in parallel on first use."""
    return {host.name: host for host in testbed.start(*FLAVOURS)}


def _flavour_fixture(name: str) -> Callable[..., TestHost]:
    @pytest.fixture(scope="session", name=name)
    def fixture(testbed_hosts: dict[str, TestHost]) -> TestHost:
        return testbed_hosts[name]

    fixture.__doc__ = f"The session's shared `{name}` testbed host."
    return fixture


ecs = _flavour_fixture("ecs")
ecs_conflict = _flavour_fixture("ecs_conflict")
ecs_gateway_routes = _flavour_fixture("ecs_gateway_routes")
linux_client = _flavour_fixture("linux_client")
sysv_client = _flavour_fixture("sysv_client")
boot2docker = _flavour_fixture("boot2docker")
bare = _flavour_fixture("bare")


@pytest.fixture
def fresh_host(testbed: Testbed) -> Iterator[Callable[[str], TestHost]]:
    """Start hosts that belong to one test; they are removed after it."""
    started: list[TestHost] = []

    def start(flavour: str) -> TestHost:
        host = testbed.start(flavour)[0]
        started.append(host)
        return host

    yield start
    for host in started:
        testbed.remove(host)


@pytest.fixture(scope="session")
def registry_image(testbed: Testbed) -> Path:
    assert testbed.images is not None
    return registry_tarball(testbed.images, testbed.work_dir / "images")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TESTBED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.testbed)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    counts = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    for outcome in counts:
        for report in terminalreporter.stats.get(outcome, []):
            keywords = getattr(report, "keywords", {})
            if "testbed" in keywords and (report.when == "call" or outcome in ("skipped", "error")):
                counts[outcome] += 1
    ran = counts["passed"] + counts["failed"]
    terminalreporter.write_line(
        f"testbed: {ran} tests ran against real SSH and Docker hosts "
        f"({counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped, "
        f"{counts['error']} errors)"
    )
