"""The order and the skipping of ``--yes``'s fixes (app.headless.apply_fixes), facts in, decisions out.

The real path (a bridge fix whose restart starts dockerd, so the start-Docker fix is not planned) runs on
the testbed in tests/test_command_counts_testbed.py (EnableDockerFix: no command) and in the CLI tests;
here each branch is pinned with results made by hand: a fix the one before it made unneeded is skipped, one
still needed gets the fix its new result offers, and the checks run again once per fix that can change a
later check, then once at the end."""

from __future__ import annotations

import asyncio

from app.diagnose import CheckResult
from app.headless import apply_fixes
from app.steps import Plan, Status, Step, StepContext


class Fix(Step):
    def __init__(self, title: str, rechecks: tuple[str, ...]) -> None:
        self.title = title
        self.rechecks = rechecks

    async def plan(self, ctx: StepContext) -> Plan:  # never planned here: apply_fixes is given `apply`
        raise AssertionError("not planned in this test")

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        raise AssertionError("not applied in this test")

    async def verify(self, ctx: StepContext) -> str | None:
        raise AssertionError("not verified in this test")


BRIDGE = Fix("bridge", ("docker", "network"))
START = Fix("start docker", ("docker", "network"))
START_AGAIN = Fix("start docker (new plan)", ("docker", "network"))


def result(check: str, status: Status, *fixes: Step) -> CheckResult:
    return CheckResult(check, check.title(), status, f"{check} {status.value}", fixes=list(fixes))


def run(first: list[CheckResult], rechecked: list[list[CheckResult]]) -> tuple[list[str], list[list[str]],
                                                                               list[str], dict[str, CheckResult]]:
    applied: list[str] = []
    asked: list[list[str]] = []
    skipped: list[str] = []
    answers = iter(rechecked)

    async def apply(found: CheckResult) -> None:
        applied.append(found.fixes[0].title)

    async def check_again(fixes: list[Step]) -> list[CheckResult]:
        asked.append([fix.title for fix in fixes])
        return next(answers)

    def not_needed(planned: CheckResult, now: CheckResult) -> None:
        skipped.append(f"{planned.fixes[0].title}: {now.status.value}")

    current = asyncio.run(apply_fixes(first, apply, check_again, not_needed))
    return applied, asked, skipped, current


def test_a_fix_the_bridge_fix_made_unneeded_is_not_planned() -> None:
    first = [result("system", Status.OK), result("docker", Status.WARNING, START),
             result("network", Status.FAILURE, BRIDGE), result("port", Status.OK)]
    after_bridge = [result("docker", Status.OK), result("network", Status.OK)]
    applied, asked, skipped, current = run(first, [after_bridge])
    assert applied == ["bridge"]  # the network fix first: dockerd cannot start before its ranges are free
    assert asked == [["bridge"]]  # one diagnosis again, before the start-Docker fix would be planned
    assert skipped == ["start docker: ok"]
    assert {k: v.status for k, v in current.items()} == {"system": Status.OK, "docker": Status.OK,
                                                        "network": Status.OK, "port": Status.OK}


def test_a_fix_still_needed_gets_the_fix_its_new_result_offers_and_is_checked_after() -> None:
    first = [result("docker", Status.FAILURE, START), result("network", Status.FAILURE, BRIDGE)]
    after_bridge = [result("docker", Status.FAILURE, START_AGAIN), result("network", Status.OK)]
    after_start = [result("docker", Status.OK), result("network", Status.OK)]
    applied, asked, skipped, current = run(first, [after_bridge, after_start])
    assert applied == ["bridge", "start docker (new plan)"]
    assert asked == [["bridge"], ["start docker (new plan)"]]
    assert skipped == []
    assert current["docker"].status is Status.OK


def test_fixes_that_change_no_later_check_are_checked_once_at_the_end() -> None:
    disk = Fix("free disk", ("disk",))
    clock = Fix("set clock", ("clock",))
    first = [result("disk", Status.WARNING, disk), result("clock", Status.FAILURE, clock)]
    applied, asked, skipped, current = run(first, [[result("disk", Status.OK), result("clock", Status.OK)]])
    assert applied == ["free disk", "set clock"]
    assert asked == [["free disk", "set clock"]]
    assert skipped == [] and all(r.status is Status.OK for r in current.values())


def test_nothing_failing_applies_and_checks_nothing() -> None:
    applied, asked, skipped, current = run([result("docker", Status.OK)], [])
    assert (applied, asked, skipped) == ([], [], [])
    assert list(current) == ["docker"]
