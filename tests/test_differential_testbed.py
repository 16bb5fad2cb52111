"""The diagnosis equals the daemon (issue 13): regwiz's prediction against dockerd, state by state.

tests/netstates.py generates host network states from a seed (printed; set
REGWIZ_DIFF_SEED to replay one, REGWIZ_DIFF_STATES for how many). Each state is
applied to real hosts of every release (bookworm's Docker 20.10.24, trixie's
26.1.5, sid's 28.5.2; two hosts per release, the states split between them):
regwiz's route check gathers the facts over SSH and predicts, then dockerd is
started and docker0's subnet (or the failure in its own log) is read. Every
mismatch fails, naming the state, the prediction and what dockerd did. Hosts
are reset between states (dockerd stopped, docker0 and br-* deleted, the
state's routes flushed, local-kv.db, daemon.json and resolv.conf put back).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from app import netmodel
from app.diagnose import DiagnosisContext, run_checks
from app.diagnose.network import NetworkCheck, NetworkFacts
from app.diagnose.network_fixes import DaemonNetworkFix
from app.diagnose.system import DockerCheck, SystemCheck
from app.dockerd import explain_failure
from app.events import EventBus
from app.steps import Outcome
from app.transport.ssh import SSHTransport
from tests.netstates import NetState, generate
from tests.registry_helpers import apply_step, network_facts_of
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost

RELEASES = ("bookworm", "trixie", "sid")
HOSTS_PER_RELEASE = 2
DEFAULT_SEED = 1313  # the suite's own: a fixed seed keeps it reproducible; REGWIZ_DIFF_SEED=random explores
DEFAULT_STATES = 42


def _seed() -> int:
    text = os.environ.get("REGWIZ_DIFF_SEED", "")
    if text == "random":
        return random.SystemRandom().randrange(1, 10**6)
    return int(text) if text else DEFAULT_SEED


# ---------------------------------------------------------------------------
# The host side, as root outside SSH (the test's own view)
# ---------------------------------------------------------------------------

# Waits until no dockerd runs: a stopping daemon still holds docker0 and local-kv.db.
_STOP = r"""
if [ "$1" = systemd ]; then systemctl stop docker.socket docker >/dev/null 2>&1
else /etc/init.d/docker stop >/dev/null 2>&1; fi
i=0; while pidof dockerd >/dev/null && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done
if pidof dockerd >/dev/null; then echo "dockerd still runs" >&2; exit 1; fi
[ "$1" = systemd ] && systemctl reset-failed docker.service docker.socket >/dev/null 2>&1
true
"""
_DROP_LINKS = r"""
for l in $(ip -o link show type bridge | awk -F': ' '{print $2}' | cut -d@ -f1); do
  case $l in docker0|br-*) ip link delete "$l" ;; esac
done
"""
# Everything a state may have changed, back to the host as it booted.
_RESET = _STOP + _DROP_LINKS + r"""
ip -4 route flush proto static
rm -rf /var/lib/docker/network /etc/docker/daemon.json /run/systemd/resolve
cat /etc/regwiz-diff/resolv.conf > /etc/resolv.conf
[ "$1" = systemd ] || : > /var/log/docker.log
[ "$1" = systemd ] && journalctl -u docker --cursor-file=/run/regwiz-diff.cursor -o cat >/dev/null 2>&1
exit 0
"""
# Start dockerd; print "up" once it answers, "down" once it is gone (or after 60 s). systemd's
# start waits for dockerd's ready notice and fails with it (its restarts would only repeat that).
_START = r"""
if [ "$1" = systemd ]; then systemctl start docker >/dev/null 2>&1 || { echo down; exit 0; }
else /etc/init.d/docker start >/dev/null 2>&1; fi
i=0
while [ $i -lt 300 ]; do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then echo up; exit 0; fi
  [ "$1" = systemd ] || pidof dockerd >/dev/null || { echo down; exit 0; }
  sleep 0.2; i=$((i+1))
done
echo down
"""
_LOG = r"""
if [ "$1" = systemd ]; then journalctl -u docker --cursor-file=/run/regwiz-diff.cursor -o cat --no-pager
else cat /var/log/docker.log; fi
"""


def _sh(host: TestHost, script: str, timeout: float = 120) -> str:
    proc = host.exec("sh", "-c", script, "sh", host.init, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{host.container} ({host.release}): {script.strip()[:80]}...: {proc.stderr.strip()}")
    return proc.stdout


def reset(host: TestHost) -> None:
    _sh(host, _RESET)


def _write(host: TestHost, path: str, text: str) -> None:
    host.exec("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path, input=text)


def _start(host: TestHost) -> bool:
    return _sh(host, _START, timeout=150).strip() == "up"


def _earlier_start(host: TestHost, state: NetState) -> None:
    """The start before the state's own: it leaves the bridge's record (and networks) in local-kv.db."""
    earlier = state.earlier
    assert earlier is not None
    if earlier.daemon:
        _write(host, "/etc/docker/daemon.json", json.dumps(earlier.daemon))
    if not _start(host):
        raise RuntimeError(f"{state.name}: the earlier start failed: {_sh(host, _LOG)[-600:]}")
    explicit = [n for n in earlier.networks if n is not None]
    for number, subnet in enumerate([*explicit, *[n for n in earlier.networks if n is None]]):
        args = ["docker", "network", "create", *(["--subnet", subnet] if subnet else []), f"user{number}"]
        proc = host.exec(*args, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{state.name}: {' '.join(args)}: {proc.stderr.strip()}")
    _sh(host, _STOP)
    if not earlier.keep_links:
        _sh(host, _DROP_LINKS)  # as after a reboot: the bridges go, local-kv.db stays
    _sh(host, "rm -f /etc/docker/daemon.json; " + ("" if host.init == "systemd" else ": > /var/log/docker.log"))
    if host.init == "systemd":
        _sh(host, "journalctl -u docker --cursor-file=/run/regwiz-diff.cursor -o cat >/dev/null 2>&1; exit 0")


def apply_state(host: TestHost, state: NetState) -> None:
    """Put the state on a host just reset."""
    if state.earlier is not None:
        _earlier_start(host, state)
    gateway = host.exec("sh", "-c", "ip -4 route show default | awk '{print $3; exit}'").stdout.strip()
    lines = [f"ip route add {r} dev eth0 proto static" for r in state.link_routes]
    lines += [f"ip route add {r} via {gateway} proto static" for r in state.gateway_routes]
    if state.docker0:
        lines += ["ip link add docker0 type bridge", f"ip addr add {state.docker0} dev docker0",
                  "ip link set docker0 up"]
    if lines:
        _sh(host, "set -e\n" + "\n".join(lines))
    if state.resolved is not None:
        _write(host, "/run/systemd/resolve/resolv.conf", "".join(f"nameserver {n}\n" for n in state.resolved))
        _write(host, "/etc/resolv.conf", "nameserver 127.0.0.53\noptions edns0 trust-ad\n")
    elif state.nameservers:
        _write(host, "/etc/resolv.conf", "".join(f"nameserver {n}\n" for n in state.nameservers))
    if state.daemon:
        _write(host, "/etc/docker/daemon.json", json.dumps(state.daemon, indent=2) + "\n")


@dataclass(frozen=True)
class Observed:
    """What dockerd did: docker0's subnet, or down with its log."""

    running: bool
    subnet: ipaddress.IPv4Network | None
    log: str

    def failure_line(self) -> str:
        cause = explain_failure(self.log)
        if cause is not None:
            return cause.evidence
        lines = [line for line in self.log.splitlines()
                 if re.search(r"level=(fatal|error)|failed to start daemon", line)]
        return (lines or self.log.splitlines() or ["(empty log)"])[-1][-400:]

    def describe(self) -> str:
        if self.running:
            return f"dockerd started, docker0 has {self.subnet or 'no IPv4 address'}"
        return f"dockerd did not start: {self.failure_line()}"


def observe(host: TestHost) -> Observed:
    if not _start(host):
        return Observed(False, None, _sh(host, _LOG))
    shown = host.exec("ip", "-j", "-4", "addr", "show", "docker0", check=False).stdout
    addresses = netmodel.parse_ip_json_addresses(shown)
    return Observed(True, addresses[0].interface.network if addresses else None, "")


# ---------------------------------------------------------------------------
# regwiz's side: the real checks over the real transport
# ---------------------------------------------------------------------------


async def predict(transport: SSHTransport, host: TestHost) -> tuple[netmodel.BridgePrediction, NetworkFacts]:
    ctx = DiagnosisContext(transport, EventBus(), host.address)
    results = await run_checks([SystemCheck(), DockerCheck(), NetworkCheck()], ctx)
    facts: NetworkFacts = network_facts_of(ctx)
    prediction = netmodel.predict_bridge(facts.net, facts.options, facts.docker_version)
    network = results[-1]
    # The check reports what predict_bridge says from the facts it gathered: one prediction, not two.
    assert network.data.get("predicted_subnet") == (str(prediction.subnet) if prediction.subnet else None), \
        network.summary
    return prediction, facts


def _unescaped(text: str) -> str:
    return text.replace('\\"', '"')


def compare(prediction: netmodel.BridgePrediction, seen: Observed) -> str | None:
    """Why the prediction and dockerd differ, or None when they agree."""
    if prediction.fails:
        if seen.running:
            return "predicted a failure, dockerd started"
        if prediction.expected_error and _unescaped(prediction.expected_error) not in _unescaped(seen.log):
            return f"dockerd failed, not in the predicted words \"{prediction.expected_error}\""
        return None
    if not seen.running:
        return "predicted a start, dockerd failed"
    if seen.subnet != prediction.subnet:
        return f"predicted docker0 {prediction.subnet}, dockerd gave it {seen.subnet}"
    return None


@dataclass(frozen=True)
class Verdict:
    release: str
    state: NetState
    prediction: netmodel.BridgePrediction
    seen: Observed
    mismatch: str | None

    def report(self) -> str:
        return (f"[{self.release}, Docker {self.prediction.rules.version}] {self.state.describe()}\n"
                f"    regwiz predicted: {self.prediction.source} "
                f"{self.prediction.subnet or ''} ({self.prediction.message})\n"
                f"    dockerd: {self.seen.describe()}\n    mismatch: {self.mismatch}")


async def _run_host(host: TestHost, states: list[NetState], directory: Path) -> list[Verdict]:
    verdicts = []
    async with root_by_password(host, directory) as transport:
        for state in states:
            reset(host)
            apply_state(host, state)
            prediction, _facts = await predict(transport, host)
            seen = observe(host)
            verdicts.append(Verdict(host.release, state, prediction, seen, compare(prediction, seen)))
    reset(host)
    return verdicts


def _in_thread(host: TestHost, states: list[NetState], directory: Path) -> list[Verdict]:
    # One event loop per host, so every host's SSH session runs beside the others'.
    return asyncio.run(_run_host(host, states, directory))


# ---------------------------------------------------------------------------
# The hosts and the tests
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diff_hosts(testbed: Testbed) -> Iterator[dict[str, list[TestHost]]]:
    started = time.monotonic()
    hosts = testbed.start(*[f"ecs@{release}" for release in RELEASES for _ in range(HOSTS_PER_RELEASE)])
    for host in hosts:
        host.sh("mkdir -p /etc/regwiz-diff && cp /etc/resolv.conf /etc/regwiz-diff/resolv.conf")
    print(f"\n{len(hosts)} hosts up in {time.monotonic() - started:.0f} s")
    yield {release: [h for h in hosts if h.release == release] for release in RELEASES}
    for host in hosts:
        testbed.remove(host)


def _table(verdicts: list[Verdict], seed: int) -> str:
    rows = ["| release (Docker) | states | matched | mismatches | started: pool / bip / remembered / "
            "docker0 / fixed-cidr | failed: no pool / refused |",
            "|---|---|---|---|---|---|"]
    for release in RELEASES:
        mine = [v for v in verdicts if v.release == release]
        if not mine:
            continue
        sources = Counter(v.prediction.source for v in mine)
        version = mine[0].prediction.rules.version
        rows.append(
            f"| {release} ({version}) | {len(mine)} | {sum(v.mismatch is None for v in mine)} | "
            f"{sum(v.mismatch is not None for v in mine)} | {sources['pool']} / {sources['bip']} / "
            f"{sources['remembered']} / {sources['docker0-exists']} / {sources['fixed-cidr']} | "
            f"{sources['none']} / {sources['refused']} |")
    return f"seed {seed}\n" + "\n".join(rows)


def test_prediction_equals_dockerd_on_every_release(diff_hosts: dict[str, list[TestHost]],
                                                    tmp_path: Path) -> None:
    seed, count = _seed(), int(os.environ.get("REGWIZ_DIFF_STATES", DEFAULT_STATES))
    states = generate(seed, count)
    assert generate(seed, count) == states, "the generator must give the same states for the same seed"
    print(f"\ndifferential seed {seed} ({count} states per release; REGWIZ_DIFF_SEED={seed} replays them)")
    started = time.monotonic()
    jobs = [(host, states[index::HOSTS_PER_RELEASE])
            for release in RELEASES for index, host in enumerate(diff_hosts[release])]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(_in_thread, host, part, tmp_path) for host, part in jobs]
        verdicts = [verdict for future in futures for verdict in future.result()]
    print(f"{len(verdicts)} states in {time.monotonic() - started:.0f} s")
    print(_table(verdicts, seed))
    assert len(verdicts) == count * len(RELEASES)
    # Both ways must be exercised, or the comparison proves little.
    assert any(v.seen.running for v in verdicts) and any(not v.seen.running for v in verdicts)
    mismatches = [v.report() for v in verdicts if v.mismatch is not None]
    assert not mismatches, f"{len(mismatches)} mismatches (seed {seed}):\n" + "\n".join(mismatches)


ALL_POOL_ROUTES = ("172.16.0.0/12", "192.168.0.0/16")


async def _fix_on(host: TestHost, directory: Path) -> str:
    """Routes over every pool, regwiz's fix applied; docker0 and a new network must lie in its ranges."""
    reset(host)
    _sh(host, "\n".join(f"ip route add {r} dev eth0 proto static" for r in ALL_POOL_ROUTES))
    async with root_by_password(host, directory) as transport:
        prediction, facts = await predict(transport, host)
        assert prediction.source == "none", f"{host.release}: {prediction.message}"
        fix = DaemonNetworkFix(facts)
        result, _plans, _ = await apply_step(transport, fix)
        assert result.outcome is Outcome.APPLIED, f"{host.release}: {result.message}"
    plan = fix.address_plan
    assert plan is not None
    shown = host.exec("ip", "-j", "-4", "addr", "show", "docker0").stdout
    docker0 = netmodel.parse_ip_json_addresses(shown)[0].interface
    assert docker0 == plan.bip, f"{host.release}: docker0 has {docker0}, the fix computed {plan.bip}"
    host.exec("docker", "network", "create", "fixcheck")
    subnet = ipaddress.ip_network(host.exec("docker", "network", "inspect", "fixcheck", "--format",
                                            "{{(index .IPAM.Config 0).Subnet}}").stdout.strip())
    assert subnet.subnet_of(plan.pool_base) and subnet.prefixlen == plan.pool_size, \
        f"{host.release}: a new network got {subnet}, outside the computed {plan.pool_base}/{plan.pool_size}"
    host.exec("docker", "network", "rm", "fixcheck")
    reset(host)
    return f"{host.release}: docker0 {docker0}, new network {subnet} (pool {plan.pool_base} /{plan.pool_size})"


def test_fix_is_proven_on_each_release(diff_hosts: dict[str, list[TestHost]], tmp_path: Path) -> None:
    hosts = [diff_hosts[release][0] for release in RELEASES]
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        lines = list(pool.map(lambda h: asyncio.run(_fix_on(h, tmp_path)), hosts))
    print("\n" + "\n".join(lines))
