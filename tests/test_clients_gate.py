"""`setup --yes` pushes its clients' test image once the new registry first answers, while the deploy still
checks that it stays up (app/commands.py, ClientsGate); the clients are changed only after the deploy ended
well and the push worked, as before. The push here records when it runs; the real one is exercised by
every `setup` test on the testbed (tests/test_setup_overlap_testbed.py and the end-to-end tests)."""

from __future__ import annotations

import asyncio

import pytest

from app.commands import ClientsGate


class Pushes:
    def __init__(self, fails: Exception | None = None) -> None:
        self.started: list[str] = []
        self.finished = 0
        self.fails = fails
        self.release = asyncio.Event()

    async def __call__(self) -> None:
        self.started.append("push")
        await self.release.wait()
        if self.fails is not None:
            raise self.fails
        self.finished += 1


async def _turns(n: int = 5) -> None:
    for _turn in range(n):
        await asyncio.sleep(0)


async def test_the_push_starts_when_the_registry_answers_before_the_deploy_ends() -> None:
    push, deployed, answering = Pushes(), asyncio.get_running_loop().create_future(), asyncio.Event()
    gate = ClientsGate(push, deployed, answering)
    await _turns()
    assert push.started == []  # the registry has not answered yet
    answering.set()
    await _turns()
    assert push.started == ["push"] and not deployed.done()  # under way during the deploy's last check
    ready = asyncio.ensure_future(gate.ready())
    push.release.set()
    await _turns()
    assert not ready.done()  # the clients still wait for the deploy
    deployed.set_result(True)
    assert await ready is True
    assert push.started == ["push"] and push.finished == 1  # pushed once, not again
    await gate.close()


async def test_a_deploy_that_fails_after_the_registry_answered_leaves_the_clients_waiting_for_nothing() -> None:
    push, deployed, answering = Pushes(), asyncio.get_running_loop().create_future(), asyncio.Event()
    gate = ClientsGate(push, deployed, answering)
    answering.set()
    await _turns()
    deployed.set_result(False)  # it restarted right after answering: rolled back
    assert await gate.ready() is False
    await gate.close()  # the push under way is ended, its outcome moot
    assert push.finished == 0


async def test_a_refused_password_is_raised_where_the_clients_wait() -> None:
    refused = PermissionError("the registry refused user ci")
    push, deployed, answering = Pushes(fails=refused), asyncio.get_running_loop().create_future(), asyncio.Event()
    gate = ClientsGate(push, deployed, answering)
    answering.set()
    push.release.set()
    await _turns()
    deployed.set_result(True)
    with pytest.raises(PermissionError, match="refused user ci"):
        await gate.ready()
    await gate.close()


@pytest.mark.parametrize("answering", [asyncio.Event, None], ids=["never set", "no event"])
async def test_nothing_redeployed_the_push_runs_when_the_clients_ask(answering) -> None:  # type: ignore[no-untyped-def]
    push, deployed = Pushes(), asyncio.get_running_loop().create_future()
    gate = ClientsGate(push, deployed, answering() if answering else None)
    await _turns()
    assert push.started == []
    deployed.set_result(True)
    ready = asyncio.ensure_future(gate.ready())
    await _turns()
    assert push.started == ["push"]
    push.release.set()
    assert await ready is True and push.finished == 1
    await gate.close()


async def test_a_failed_deploy_that_never_answered_pushes_nothing() -> None:
    push, deployed, answering = Pushes(), asyncio.get_running_loop().create_future(), asyncio.Event()
    gate = ClientsGate(push, deployed, answering)
    deployed.set_result(False)
    assert await gate.ready() is False
    await gate.close()
    assert push.started == []
