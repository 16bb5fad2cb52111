"""Deploying a registry on testbed hosts, shared by the deploy, clients and TUI tests."""

from __future__ import annotations

from pathlib import Path

from app.clients.model import RegistryTarget
from app.clients.testimage import ensure_test_image
from app.events import EventBus, MemorySink
from app.registry import config as regconfig
from app.registry.deploy import DeployChoices, DeployRegistryStep
from app.registry.image import ImageSource
from app.registry.prove import client_target
from app.redact import Secret
from app.steps import Outcome, Plan, StepContext, run_step
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost
import secrets


def unreachable_probe(testbed: Testbed) -> str:
    """A URL on the testbed's own network where nothing answers: the host 'cannot reach Docker Hub'."""
    from tests.testbed.docker_cli import docker_json
    import ipaddress

    subnet = docker_json("network", "inspect", testbed.network)[0]["IPAM"]["Config"][0]["Subnet"]
    return f"https://{ipaddress.ip_network(subnet).network_address + 251}/v2/"


def choices_for(host: TestHost, testbed: Testbed, **settings: object) -> DeployChoices:
    assert testbed.images is not None
    return DeployChoices(
        settings=regconfig.RegistrySettings(**settings),  # type: ignore[arg-type]
        names=[host.address],
        users={"ci": Secret("ci-" + secrets.token_urlsafe(9))},
        image=ImageSource(kind="auto", local_image=testbed.images.registry,
                          probe_url=unreachable_probe(testbed), probe_seconds=2),
    )


async def apply_step(transport, step, answer: bool = True, source: str = "fix.network"):  # type: ignore[no-untyped-def]
    """Run a step as the user would, answering ``answer``; return its result, the plans shown, the events."""
    bus = EventBus()
    sink = MemorySink()
    bus.subscribe(sink)
    plans: list[Plan] = []

    async def confirm(plan: Plan) -> bool:
        plans.append(plan)
        return answer

    result = await run_step(step, StepContext(transport, bus.scoped(source=source)), confirm)
    return result, plans, sink


async def deploy(transport, choices: DeployChoices, answer: bool = True):  # type: ignore[no-untyped-def]
    progress: list[tuple[int, int]] = []
    step = DeployRegistryStep(choices, progress=lambda sent, total: progress.append((sent, total)))
    result, plans, sink = await apply_step(transport, step, answer, source="deploy")
    return result, plans, sink, progress


async def deployed(testbed: Testbed, host: TestHost, tmp_path: Path, **settings: object) -> RegistryTarget:
    """A registry deployed on ``host`` by regwiz, with the clients' test image pushed."""
    host.exec("systemctl", "start", "docker")
    choices = choices_for(host, testbed, **settings)
    if settings.get("auth") == "none":
        choices.users = {}
    async with root_by_password(host, tmp_path) as t:
        result, _, _, _ = await deploy(t, choices)
    assert result.outcome is Outcome.APPLIED, result.message
    target = client_target(choices)
    await ensure_test_image(target)
    return target


def network_facts_of(ctx):  # type: ignore[no-untyped-def]
    """The NetworkFacts the network check gathered on this context's connection (it must have run)."""
    from app import facts
    from app.diagnose.network_facts import NetworkFacts

    gathered = facts.known(ctx.transport, NetworkFacts)
    assert gathered is not None, "the network check has not run on this connection"
    return gathered
