"""The daemon's own failure lines, era by era, and where the route check may quote them.

Each log text below is the line as the journal (or the init script's log) holds
it; the wording comes from moby's source at the tag named, or was seen here.
"""

from __future__ import annotations

import json
import shlex

import pytest

from app import facts
from app.diagnose.base import DiagnosisContext
from app.diagnose.network import NetworkCheck
from app.dockerd import DockerService, explain_failure
from app.events import EventBus
from app.facts import DockerState
from app.steps import Status
from tests.recorded import RecordedTransport

POOLS_2010 = ("172.17.0.0/16 172.18.0.0/16 172.19.0.0/16 172.20.0.0/16 172.21.0.0/16 172.22.0.0/16 "
              "172.23.0.0/16 172.24.0.0/16 172.25.0.0/16 172.26.0.0/16 172.27.0.0/16 172.28.0.0/16 "
              "172.29.0.0/16 172.30.0.0/16 172.31.0.0/16 192.168.0.0/20 192.168.16.0/20 192.168.32.0/20 "
              "192.168.48.0/20 192.168.64.0/20 192.168.80.0/20 192.168.96.0/20 192.168.112.0/20 "
              "192.168.128.0/20 192.168.144.0/20 192.168.160.0/20 192.168.176.0/20 192.168.192.0/20 "
              "192.168.208.0/20 192.168.224.0/20 192.168.240.0/20")

ERA_LINES = [
    # moby v1.6.2 daemon/networkdriver/bridge/driver.go configureBridge (logrus text format of 1.6)
    ("1.6", "Mar 05 10:12:01 ecs-01 docker[812]: time=\"2015-03-05T10:12:01Z\" level=fatal msg=\"Error starting "
            "daemon: Could not find a free IP address range for interface 'docker0'. Please configure its "
            "address manually and run 'docker -b docker0'\""),
    # moby v1.7.1 / v1.8.3 vendor/src/github.com/docker/libnetwork/drivers/bridge/errors.go IPv4AddrRangeError:
    # logrus escapes the %q quotes inside msg="..."
    ("1.7-1.8", "Aug 12 09:00:00 ecs-01 docker[700]: time=\"2015-08-12T09:00:00Z\" level=fatal msg=\"Error "
                "starting daemon: Error initializing network controller: Error creating default \\\"bridge\\\" "
                "network: can't find an address range for interface \\\"docker0\\\"\""),
    # moby v18.09.0 daemon/daemon_unix.go initBridgeDriver: errors.Wrap(err, "list bridge addresses failed")
    ("1.13-18.09", "Jan 10 08:00:00 ecs-01 dockerd[900]: Error starting daemon: Error initializing network "
                   "controller: list bridge addresses failed: no available network"),
    # seen here on bookworm's 20.10.24 (journalctl -u docker -o cat)
    ("19.03-23.0.3", "failed to start daemon: Error initializing network controller: list bridge addresses "
                     f"failed: PredefinedLocalScopeDefaultNetworks List: [{POOLS_2010}]: no available network"),
    # seen here on trixie's 26.1.5
    ("23.0.4-26.x", "Dec 01 10:00:00 trixie dockerd[412]: failed to start daemon: error creating default "
                    "\"bridge\" network: could not find an available, non-overlapping IPv4 address pool among "
                    "the defaults to assign to the network"),
    # moby v23.0.4 daemon/daemon_unix.go: capital "Error creating" before v25.0.0
    ("23.0.4-26.x", "failed to start daemon: Error creating default \"bridge\" network: could not find an "
                    "available, non-overlapping IPv4 address pool among the defaults to assign to the network"),
    # seen here on sid's 28.5.2
    ("27+", "Dec 01 10:05:00 sid dockerd[77]: failed to start daemon: error creating default \"bridge\" "
            "network: all predefined address pools have been fully subnetted"),
]


@pytest.mark.parametrize("era, line", ERA_LINES, ids=[f"{era}-{i}" for i, (era, _l) in enumerate(ERA_LINES)])
def test_each_era_pool_failure_is_recognised(era: str, line: str) -> None:
    log = "\n".join(["Starting Docker Application Container Engine...", line,
                     "docker.service: Main process exited, code=exited, status=1/FAILURE"])
    cause = explain_failure(log)
    assert cause is not None
    assert (cause.kind, cause.era) == ("address-pools", era)
    assert cause.cause.startswith("no free address range for docker0")
    assert "routes" in cause.cause and "default-address-pools" in cause.fix
    assert cause.evidence == line.strip()[-400:]  # the daemon's own line, nothing rewritten


def test_the_2010_line_gives_the_pools_it_tried() -> None:
    cause = explain_failure(ERA_LINES[3][1])
    assert cause is not None
    assert cause.pools[0] == "172.17.0.0/16" and cause.pools[-1] == "192.168.240.0/20" and len(cause.pools) == 31


@pytest.mark.parametrize("line, cause_start", [
    # moby v20.10.24 daemon/daemon_unix.go: "You specified -b & --bip, mutually exclusive options"
    ("failed to start daemon: You specified -b & --bip, mutually exclusive options. Please specify only one",
     "both -b (bridge) and --bip"),
    # moby v17.12.0-ce daemon/config/config.go: unknown daemon.json keys
    ("unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives don't "
     "match any configuration option: default-address-pools", "daemon.json holds a key"),
    # moby v20.10.24 daemon/daemon_unix.go
    ("failed to start daemon: Error initializing network controller: IPv6 is enabled for the default bridge, "
     "but no subnet is configured. Specify an IPv6 subnet using --fixed-cidr-v6", '"ipv6": true'),
])
def test_refusals_are_named(line: str, cause_start: str) -> None:
    cause = explain_failure(line)
    assert cause is not None and cause.kind == "other"
    assert cause.cause.startswith(cause_start)


def test_an_unrelated_log_has_no_pool_cause() -> None:
    assert explain_failure("Started Docker Application Container Engine.\nAPI listen on /run/docker.sock") is None


# ---------------------------------------------------------------------------
# The route check quotes only what the daemon logged
# ---------------------------------------------------------------------------

ALL_LINK_JSON = json.dumps([
    {"dst": "default", "gateway": "10.213.0.1", "dev": "eth0"},
    {"dst": "10.213.0.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link"},
    {"dst": "172.16.0.0/12", "dev": "eth0", "scope": "link"},
    {"dst": "192.168.0.0/16", "dev": "eth0", "scope": "link"},
])


class FakeHost(RecordedTransport):
    """Answers the route check's read-only commands from a table of files and outputs."""

    label = "fake"

    def __init__(self, files: dict[str, str], routes_json: str) -> None:
        super().__init__(files)
        self.routes_json = routes_json

    async def answer(self, command_line: str) -> tuple[int, list[str], list[str]]:
        words = shlex.split(command_line)
        if words[:4] == ["ip", "-j", "-4", "route"]:
            return 0, [self.routes_json], []
        if words[:4] == ["ip", "-j", "-4", "addr"]:
            return 0, ["[]"], []
        if words[:1] == ["cat"]:
            text = self.files.get(words[1])
            return (0, text.splitlines(), []) if text is not None else (1, [], ["No such file"])
        return 1, [], []


async def _route_check(version: str, last_log: str | None, files: dict[str, str] | None = None,
                       routes_json: str = ALL_LINK_JSON) -> tuple[object, FakeHost]:
    host = FakeHost(files if files is not None else {"/etc/resolv.conf": "nameserver 100.100.2.136\n"},
                    routes_json)
    ctx = DiagnosisContext(host, EventBus(), "fake")
    # Recorded facts in: what the Docker check would have gathered on a SysV host whose daemon is down.
    facts.remember(host, DockerService("sysv"))
    facts.remember(host, DockerState(installed=True, version=version, running=False, log=last_log))
    result = await NetworkCheck().run(ctx, ctx.emitter("network"))
    return result, host


async def test_route_check_quotes_the_daemons_own_line_when_its_log_holds_it() -> None:
    line = ERA_LINES[3][1]
    result, _host = await _route_check("Docker version 20.10.24+dfsg1, build 297e128",
                                       "Starting Docker...\n" + line)
    assert result.status is Status.FAILURE
    assert result.summary == "dockerd found no available network for docker0 (its log says so)"
    prefix = "dockerd's own words (from its log): "
    quoted = [e[len(prefix):] for e in result.evidence if e.startswith(prefix)]
    # Its own words, cut only at the front (long pool lists), never rewritten.
    assert len(quoted) == 1 and line.endswith(quoted[0]) and quoted[0].endswith("]: no available network")
    assert not any(e.startswith("predicted:") for e in result.evidence)
    assert result.data["daemon_logged"] == quoted[0]


async def test_route_check_says_prediction_when_the_log_holds_nothing() -> None:
    # A never-started daemon: the journal has no entries.
    result, _host = await _route_check("Docker version 26.1.5+dfsg1, build a72d7cd", "-- No entries --")
    assert result.status is Status.FAILURE
    assert result.summary == "dockerd will find no available network for docker0 (predicted)"
    assert "predicted: dockerd will fail to find a free address pool (not seen in its log)" in result.evidence
    assert not any("own words" in e for e in result.evidence)
    # The expected wording is that of 26.x, and is labelled as taken from moby's source.
    worded = [e for e in result.evidence if "could not find an available, non-overlapping" in e]
    assert worded and all("not from this host's log" in e for e in worded)
    assert result.data["daemon_logged"] is None


async def test_route_check_without_any_log_read_says_prediction() -> None:
    result, _host = await _route_check("Docker version 28.5.2+dfsg1, build ecc6942", None)
    assert "predicted: dockerd will fail to find a free address pool (not seen in its log)" in result.evidence
    assert any("all predefined address pools have been fully subnetted" in e and "moby's source" in e
               for e in result.evidence)


async def test_route_check_reads_the_resolved_file_behind_the_stub_and_predicts_172_18() -> None:
    # Seen on a real host: Docker 26.1.5, /etc/resolv.conf with only the stub; the resolved file names
    # a real nameserver in 172.17, so dockerd took 172.18.0.0/16 (regwiz used to say 172.17).
    files = {
        "/etc/resolv.conf": "# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0\n",
        "/run/systemd/resolve/resolv.conf": "nameserver 172.17.0.2\nsearch example.internal\n",
    }
    routes = json.dumps([{"dst": "default", "gateway": "10.213.0.1", "dev": "eth0"}])
    result, host = await _route_check("Docker version 26.1.5+dfsg1, build a72d7cd", None, files, routes)
    assert any("/run/systemd/resolve/resolv.conf" in line for line in host.commands)
    assert result.data["predicted_subnet"] == "172.18.0.0/16"
    assert any("checks the nameservers of /run/systemd/resolve/resolv.conf" in e for e in result.evidence)


async def test_route_check_does_not_read_the_resolved_file_without_the_stub() -> None:
    files = {"/etc/resolv.conf": "nameserver 100.100.2.136\n", "/run/systemd/resolve/resolv.conf": "nameserver 172.17.0.2\n"}
    routes = json.dumps([{"dst": "default", "gateway": "10.213.0.1", "dev": "eth0"}])
    result, host = await _route_check("Docker version 26.1.5+dfsg1, build a72d7cd", None, files, routes)
    assert not any("/run/systemd/resolve/resolv.conf" in line for line in host.commands)
    assert result.data["predicted_subnet"] == "172.17.0.0/16"
