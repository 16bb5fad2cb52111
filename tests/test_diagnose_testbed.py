"""Diagnosis and its fixes on real hosts: the route conflict found and fixed safely."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path


from app.diagnose import DiagnosisContext, default_checks, run_checks
from app.diagnose.base import CheckResult
from app.diagnose.network_fixes import DaemonNetworkFix, RouteDeleteFix
from app.events import EventBus, EventKind, MemorySink
from app.steps import Outcome, Plan, Status, StepContext
from app.transport.ssh import SSHTransport
from tests.registry_helpers import apply_step, network_facts_of
from tests.sshutil import root_by_password
from tests.testbed.hosts import TestHost


async def diagnose(transport: SSHTransport, host: TestHost) -> tuple[dict[str, CheckResult], MemorySink,
                                                                     DiagnosisContext]:
    bus = EventBus()
    sink = MemorySink()
    bus.subscribe(sink)
    ctx = DiagnosisContext(transport, bus, host.address)
    results = await run_checks(default_checks(), ctx)
    return {r.check_id: r for r in results}, sink, ctx


async def test_ecs_conflict_predicted_fixed_and_idempotent(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs_conflict")
    async with root_by_password(host, tmp_path) as t:
        results, sink, _ = await diagnose(t, host)
        network = results["network"]
        assert network.status is Status.FAILURE
        assert "no available network" in network.summary
        assert any("no available network" in e for e in network.evidence)
        assert set(network.data["blamed_routes"]) == {"172.16.0.0/12 dev eth0 scope link",
                                                      "192.168.0.0/16 dev eth0 scope link"}
        assert network.picture and all(len(line) <= 80 for line in network.picture)
        assert results["docker"].status is Status.WARNING  # installed, never started
        # The commands ran live into the check's own log.
        assert any(e.kind is EventKind.COMMAND and e.source == "diagnose.network" for e in sink.events)

        fix = network.fixes[0]
        assert isinstance(fix, DaemonNetworkFix)
        outcome, plans, _ = await apply_step(t, fix)
        assert outcome.outcome is Outcome.APPLIED, outcome.message
        diff = plans[0].diff()
        assert '"bip": "10.200.0.1/24"' in diff and '"base": "10.201.0.0/16"' in diff

        config = json.loads(host.exec("cat", "/etc/docker/daemon.json").stdout)
        docker0 = json.loads(host.exec("ip", "-j", "-4", "addr", "show", "docker0").stdout)[0]["addr_info"][0]
        assert ipaddress.ip_interface(f"{docker0['local']}/{docker0['prefixlen']}") == \
            ipaddress.ip_interface(config["bip"])
        assert host.exec("systemctl", "is-enabled", "docker").stdout.strip() == "enabled"

        again, _, ctx = await diagnose(t, host)
        assert {k: r.status for k, r in again.items()} == {k: Status.OK for k in again}, \
            {k: r.summary for k, r in again.items() if r.status is not Status.OK}
        # Offering the same fix again changes nothing.
        before = host.exec("cat", "/etc/docker/daemon.json").stdout
        outcome, _, _ = await apply_step(t, DaemonNetworkFix(network_facts_of(ctx)))
        assert outcome.outcome is Outcome.NOTHING_TO_DO, outcome.message
        assert host.exec("cat", "/etc/docker/daemon.json").stdout == before


async def test_gateway_routes_prediction_matches_dockerd_and_warns(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs_gateway_routes")
    async with root_by_password(host, tmp_path) as t:
        results, _, _ = await diagnose(t, host)
        network = results["network"]
        predicted = network.data["predicted_subnet"]
        assert predicted and network.status is Status.WARNING
        assert any("172.16.0.0/12" in s for s in network.data["shadowing"])
        host.exec("systemctl", "start", "docker")
        real = json.loads(host.exec("ip", "-j", "-4", "addr", "show", "docker0").stdout)[0]["addr_info"][0]
        assert str(ipaddress.ip_interface(f"{real['local']}/{real['prefixlen']}").network) == predicted
        # With docker running, the warning stays and is now about docker0 itself.
        running, _, _ = await diagnose(t, host)
        assert running["network"].status is Status.WARNING
        assert running["network"].data["predicted_subnet"] == predicted


async def test_seed_route_fix_deletes_a_conflicting_route(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs_conflict")
    async with root_by_password(host, tmp_path) as t:
        results, _, _ = await diagnose(t, host)
        fixes = [f for f in results["network"].fixes if isinstance(f, RouteDeleteFix)]
        route_fix = next(f for f in fixes if str(f.route.dest) == "172.16.0.0/12")
        outcome, plans, _ = await apply_step(t, route_fix)
        assert plans[0].typed_confirmation == "172.16.0.0/12"
        assert "-up route add -net 172.16.0.0 netmask 255.240.0.0 dev eth0" in plans[0].diff()
        assert outcome.outcome is Outcome.APPLIED, outcome.message
        routes = host.exec("ip", "-4", "route").stdout
        assert "172.16.0.0/12" not in routes and "192.168.0.0/16" in routes
        interfaces = host.exec("cat", "/etc/network/interfaces").stdout
        assert "172.16.0.0" not in interfaces and "192.168.0.0" in interfaces
        assert host.exec("docker", "info", "--format", "{{.ID}}", check=False).returncode == 0
        backups = host.sh("find /var/backups/regwiz -type f").stdout.split()
        assert any(b.endswith("/etc/network/interfaces") for b in backups)


async def test_seed_route_fix_refuses_the_route_of_the_session(ecs_conflict: TestHost, tmp_path: Path) -> None:
    async with root_by_password(ecs_conflict, tmp_path) as t:
        results, _, ctx = await diagnose(t, ecs_conflict)
        facts = network_facts_of(ctx)
        session_route = next(r for r in facts.net.routes if r.dest.prefixlen == 24 and r.is_link_scope)
        before = ecs_conflict.exec("ip", "-4", "route").stdout
        outcome, plans, _ = await apply_step(t, RouteDeleteFix(session_route, facts))
        assert outcome.outcome is Outcome.REFUSED
        assert "carries this SSH session" in outcome.message
        assert plans == []  # never even offered for confirmation
        default = next(r for r in facts.net.routes if r.is_default)
        outcome, _, _ = await apply_step(t, RouteDeleteFix(default, facts))
        assert outcome.outcome is Outcome.REFUSED
        assert ecs_conflict.exec("ip", "-4", "route").stdout == before


async def test_declined_fix_changes_nothing(ecs_conflict: TestHost, tmp_path: Path) -> None:
    async with root_by_password(ecs_conflict, tmp_path) as t:
        results, _, _ = await diagnose(t, ecs_conflict)
        outcome, plans, _ = await apply_step(t, results["network"].fixes[0], answer=False)
        assert outcome.outcome is Outcome.DECLINED and plans
        assert ecs_conflict.exec("test", "-e", "/etc/docker/daemon.json", check=False).returncode != 0


class BrokenNetworkFix(DaemonNetworkFix):
    """Writes a daemon.json dockerd refuses: the fix must roll itself back."""

    async def plan(self, ctx: StepContext) -> Plan:
        plan = await super().plan(ctx)
        change = plan.changes[0]
        broken = json.loads(change.new or "{}")
        broken["bip"] = "not-an-address"
        plan.changes[0] = type(change)(change.path, change.old, json.dumps(broken) + "\n", change.mode)
        return plan


async def test_fix_that_breaks_docker_is_rolled_back(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("linux_client")
    original = host.exec("cat", "/etc/docker/daemon.json").stdout
    async with root_by_password(host, tmp_path) as t:
        results, _, ctx = await diagnose(t, host)
        outcome, _, sink = await apply_step(t, BrokenNetworkFix(network_facts_of(ctx)))
        assert outcome.outcome is Outcome.ROLLED_BACK, outcome.message
        assert "did not come back" in outcome.message
    assert host.exec("cat", "/etc/docker/daemon.json").stdout == original
    assert host.exec("docker", "info", "--format", "{{.ID}}", check=False).returncode == 0
    assert host.exec("systemctl", "is-active", "docker").stdout.strip() == "active"

    # The real fix on the same host: other keys kept, the remembered subnet cleared.
    async with root_by_password(host, tmp_path) as t:
        _, _, ctx = await diagnose(t, host)
        facts = network_facts_of(ctx)
        assert str(facts.options.remembered_subnet) == "172.17.0.0/16"
        outcome, plans, _ = await apply_step(t, DaemonNetworkFix(facts))
        assert any("local-kv.db" in a for a in plans[0].actions)
        assert outcome.outcome is Outcome.APPLIED, outcome.message
    config = json.loads(host.exec("cat", "/etc/docker/daemon.json").stdout)
    assert config["labels"] == ["io.regwiz.flavour=linux_client"]
    assert config["bip"] == "10.200.0.1/24"
    assert "10.200.0.1/24" in host.exec("ip", "-4", "addr", "show", "docker0").stdout


async def test_bare_host_gets_docker_installed(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("bare")
    async with root_by_password(host, tmp_path) as t:
        results, _, _ = await diagnose(t, host)
        docker = results["docker"]
        assert docker.status is Status.FAILURE and docker.summary == "Docker is not installed"
        outcome, plans, sink = await apply_step(t, docker.fixes[0])
        assert "apt-get install -y docker.io" in " ".join(plans[0].actions)
        assert outcome.outcome is Outcome.APPLIED, outcome.message
        assert any("Setting up docker.io" in line for line in sink.lines(EventKind.STDOUT))
        again, _, _ = await diagnose(t, host)
        assert again["docker"].status is Status.OK, again["docker"].summary


async def test_failed_daemon_start_is_explained(ecs_conflict: TestHost, tmp_path: Path) -> None:
    ecs_conflict.exec("systemctl", "start", "docker", check=False)
    try:
        async with root_by_password(ecs_conflict, tmp_path) as t:
            results, _, _ = await diagnose(t, ecs_conflict)
        docker = results["docker"]
        assert docker.status is Status.FAILURE
        assert "no free address range for docker0" in docker.summary
        assert any("no available network" in e for e in docker.evidence)
    finally:
        ecs_conflict.exec("systemctl", "reset-failed", "docker", check=False)


async def test_port_holder_and_firewall_are_named(ecs: TestHost, tmp_path: Path) -> None:
    ecs.exec("sh", "-c", "nohup nc -l -p 5000 >/dev/null 2>&1 &")
    ecs.exec("iptables", "-I", "INPUT", "-p", "tcp", "--dport", "5000", "-j", "DROP")
    try:
        for _ in range(50):
            if "5000" in ecs.exec("ss", "-ltn").stdout:
                break
        async with root_by_password(ecs, tmp_path) as t:
            results, _, _ = await diagnose(t, ecs)
        assert results["port"].status is Status.FAILURE
        assert results["port"].summary == "5000/tcp is taken by nc"
        assert results["firewall"].status is Status.WARNING
        assert "an iptables rule drops port 5000" in results["firewall"].summary
        assert results["clock"].status is Status.OK and results["disk"].status is Status.OK
    finally:
        ecs.exec("iptables", "-D", "INPUT", "-p", "tcp", "--dport", "5000", "-j", "DROP")
        ecs.exec("pkill", "-x", "nc", check=False)


async def test_checks_run_together_read_as_one_after_another(ecs_conflict: TestHost, tmp_path: Path) -> None:
    """The checks' reads go out together; each check's lines still come as one block, in diagnosis order,
    opened by its "checking" line and closed by its result; and the results are those of the checks run
    one at a time (each alone in its own run_checks)."""
    async with root_by_password(ecs_conflict, tmp_path) as t:
        results, sink, _ = await diagnose(t, ecs_conflict)
    order = [check.check_id for check in default_checks()]
    sources = [e.source.removeprefix("diagnose.") for e in sink.events if e.source.startswith("diagnose.")]
    blocks = [s for i, s in enumerate(sources) if i == 0 or sources[i - 1] != s]
    assert blocks == order, blocks  # no check's lines cut into another's
    for check_id in order:
        own = [e for e in sink.events if e.source == f"diagnose.{check_id}"]
        assert own[0].kind is EventKind.STATUS and own[0].lines[0].endswith("checking")
        assert own[-1].kind is EventKind.STATUS and results[check_id].summary in own[-1].lines[0]
    assert any(e.kind is EventKind.COMMAND for e in sink.events if e.source == "diagnose.network")
    assert any(e.kind is EventKind.COMMAND for e in sink.events if e.source == "diagnose.port")  # the batch's

    alone: dict[str, CheckResult] = {}
    async with root_by_password(ecs_conflict, tmp_path) as t:
        for check in default_checks():
            [alone[check.check_id]] = await run_checks([check], DiagnosisContext(t, EventBus(), ecs_conflict.address))
    volatile = {"clock", "disk"}  # the skew is measured afresh each time; the free space moves
    assert {k: (r.status, r.summary) for k, r in results.items() if k not in volatile} == \
        {k: (r.status, r.summary) for k, r in alone.items() if k not in volatile}
    assert all(results[k].status is alone[k].status for k in volatile)


LOCAL_KV = "/var/lib/docker/network/files/local-kv.db"


class FailingVerifyNetworkFix(DaemonNetworkFix):
    """The real fix, whose verification then says the host is unhealthy: the rollback must take back the
    local-kv.db the first start wrote (planned absent: no backup command, only its absence checked)."""

    async def verify(self, ctx: StepContext) -> str | None:
        return await super().verify(ctx) or "unhealthy (this test says so)"


async def test_a_first_start_rolled_back_takes_its_local_kv_away(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs_conflict")
    assert host.exec("test", "-e", LOCAL_KV, check=False).returncode != 0  # dockerd never started here
    async with root_by_password(host, tmp_path) as t:
        _, _, ctx = await diagnose(t, host)
        facts = network_facts_of(ctx)
        assert not facts.local_kv_present
        outcome, plans, sink = await apply_step(t, FailingVerifyNetworkFix(facts))
    assert plans[0].decision.kv_absent
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.message
    # The first start wrote it (dockerd's own store of docker0's subnet); the rollback removed it again.
    assert any(LOCAL_KV in line for line in sink.lines(EventKind.COMMAND)), "the rollback named no local-kv.db"
    assert host.exec("test", "-e", LOCAL_KV, check=False).returncode != 0
    assert host.exec("test", "-e", "/etc/docker/daemon.json", check=False).returncode != 0
    # No backup copy was made of a file that was not there, and docker0 read in the restart's own command.
    naming_kv = [c for c in sink.lines(EventKind.COMMAND) if LOCAL_KV in c]
    assert len(naming_kv) == 2, naming_kv  # the write checking its absence, the rollback's removal
    assert "planned absent" in naming_kv[0] and "rm -f" in naming_kv[1], naming_kv
    commands = sink.lines(EventKind.COMMAND)
    assert not any(c.strip() == "ip -j -4 addr show docker0" for c in commands), commands


async def test_a_local_kv_that_appeared_since_the_plan_stops_the_bridge_fix(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Planned absent, local-kv.db (it holds the user's networks) is there when the fix applies: nothing is
    changed, so no rollback can remove a file regwiz did not make."""
    from app.steps import run_step

    host: TestHost = fresh_host("ecs_conflict")
    async with root_by_password(host, tmp_path) as t:
        _, _, ctx = await diagnose(t, host)

        async def confirm_then_appear(plan: Plan) -> bool:
            host.sh(f"mkdir -p {LOCAL_KV.rsplit('/', 1)[0]} && printf 'kept' > {LOCAL_KV}")
            return True

        result = await run_step(DaemonNetworkFix(network_facts_of(ctx)),
                                StepContext(t, EventBus().scoped(source="fix.network")), confirm_then_appear)
    # (The step's rollback then runs as after any failure: it finds nothing of its own to take back.)
    assert result.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK), (result.outcome, result.message)
    assert "exists, it was planned absent; not changed" in result.message, result.message
    assert host.exec("cat", LOCAL_KV).stdout == "kept"
    assert host.exec("test", "-e", "/etc/docker/daemon.json", check=False).returncode != 0
