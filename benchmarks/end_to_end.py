"""End to end: on fresh testbed hosts (an `ecs_conflict` registry host whose dockerd cannot start, and a
`linux_client`), diagnose and fix, deploy with TLS and auth, configure the client and prove its pull.

Three tools, each on fresh hosts of its own, interleaved (regwiz, Ansible, pyinfra; then the other way):
- regwiz headless (`regwiz setup --profile P --yes`: diagnose and fix, deploy and prove, then the client);
- an Ansible playbook (benchmarks/ansible: pipelining, forks, one multiplexed SSH connection per host);
- a pyinfra deploy (benchmarks/pyinfra);
- the floor (benchmarks/floor.py): one OpenSSH command per host running one script that does only the
  host-side work the end state needs, the least time any tool could take here (the table's floor column,
  and whether each goal is reachable at all). $REGWIZ_BENCH_TOOLS=floor,ansible,pyinfra runs those alone.
Only the tool's own run is timed (host start-up is not, the same for all). One checker, shared by every
tool, then looks at the end state from outside SSH: the registry refuses an anonymous request (401),
answers the user (200), and the client's docker pulls from it with the login the tool stored; a tool
that fails or misses the end state fails the benchmark. sshd on both hosts counts the SSH connections
and remote commands of each run.

The testbed's hosts (a minimal debootstrap) have no Python, which Ansible's modules need and every cloud
image has: before each run, untimed and for every tool alike, Debian's python3 packages (fetched once
here with `apt-get download`) are installed on both hosts.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import floor
from benchmarks.common import NAN, Figure, interleaved, median, selected
from benchmarks.latency import Link, echo_round_trips, ssh_command_ms
from benchmarks.hosts import (
    SSHCounts,
    count_sshd,
    install_debs,
    known_hosts,
    python3_debs,
    sshd_counts,
)
from tests.registry_helpers import unreachable_probe
from tests.testbed.hosts import Testbed, TestHost

DEFAULT_REPEAT = 2
ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".venv-bench" / "bin"
PORT = 5000
USER = "ci"
TOOLS = selected(("regwiz", "ansible", "pyinfra", "floor"))
# ms each way: loopback, and a link like Shanghai to Hangzhou and back (REGWIZ_BENCH_DELAYS=25: that one alone)
DELAYS = tuple(float(d) for d in os.environ.get("REGWIZ_BENCH_DELAYS", "0,25").split(","))


def profile_text(server: TestHost, client: TestHost, key: Path) -> str:
    return f'''[server]
host = "{server.address}"
user = "root"
identity_file = "{key}"

[registry]
port = {PORT}
tls = "own-ca"
auth = "htpasswd"
mode = "private"
[[registry.users]]
name = "{USER}"
password_env = "BENCH_REGISTRY_PASSWORD"

[[clients]]
host = "{client.address}"
user = "root"
identity_file = "{key}"
'''


def regwiz_run(bed: Testbed, server: TestHost, client: TestHost, password: str) -> float:
    """Wall time of regwiz's headless `setup` (deploy, then clients, in one run), as a user runs it."""
    assert bed.images is not None and bed.client_key is not None
    home = Path(tempfile.mkdtemp(prefix="regwiz-bench-e2e-"))
    (home / "state").mkdir(parents=True)
    (home / "state" / "known_hosts").write_text(
        "".join(line + "\n" for host in (server, client) for line in host.known_hosts_lines()))
    profile = home / "bench.toml"
    profile.write_text(profile_text(server, client, bed.client_key.path))
    env = {**os.environ, "REGWIZ_HOME": str(home), "BENCH_REGISTRY_PASSWORD": password,
           "REGWIZ_UPLOAD_IMAGE": bed.images.registry, "REGWIZ_HUB_PROBE_URL": unreachable_probe(bed),
           "PYTHONPATH": str(ROOT)}
    timeline = home / "timeline.txt"  # each JSON record with its time since the start: what costs what
    started = time.perf_counter()
    with timeline.open("w") as log, (home / "stderr.txt").open("w+") as errors:
        for command in ("setup",):
            proc = subprocess.Popen([sys.executable, "-m", "app", command, "--profile", str(profile), "--yes",
                                     "--json"], stdout=subprocess.PIPE, stderr=errors, text=True,
                                    env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                log.write(f"{time.perf_counter() - started:7.2f} {command} {line}")
            if proc.wait(timeout=900) != 0:
                errors.seek(0)
                raise RuntimeError(f"regwiz {command} failed: {''.join(lines)[-1500:]}{errors.read()[-1500:]}")
    elapsed = time.perf_counter() - started
    print(f"[bench] end_to_end: regwiz {elapsed:.1f} s (timeline: {timeline})", file=sys.stderr, flush=True)
    return elapsed


def _run_tool(name: str, argv: list[str], env: dict[str, str], cwd: Path, work: Path) -> float:
    """Wall time of one baseline's run; its output goes to WORK/output.txt; a failure raises."""
    if not Path(argv[0]).exists():
        raise RuntimeError(f"{argv[0]} is missing: ./dev bench installs the baselines into .venv-bench")
    output = work / "output.txt"  # each line with its time since the start: what costs what
    env = {**env, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    with output.open("w") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=cwd, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip():
                out.write(f"{time.perf_counter() - started:7.2f} {line}")
        returncode = proc.wait(timeout=900)
    elapsed = time.perf_counter() - started
    if returncode != 0:
        raise RuntimeError(f"{name} failed (exit {returncode}): {output.read_text()[-2500:]}")
    print(f"[bench] end_to_end: {name} {elapsed:.1f} s (output: {output})", file=sys.stderr, flush=True)
    return elapsed


def _baseline_values(bed: Testbed, work: Path) -> dict[str, str]:
    assert bed.images is not None
    return {"work_dir": str(work), "registry_image": bed.images.registry, "registry_user": USER}


def ansible_run(bed: Testbed, server: TestHost, client: TestHost, password: str) -> float:
    """Wall time of `ansible-playbook site.yml` (benchmarks/ansible) with a per-run inventory."""
    assert bed.client_key is not None
    work = Path(tempfile.mkdtemp(prefix="regwiz-bench-ansible-"))
    known = known_hosts([server, client], work / "known_hosts")
    inventory = {"all": {
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(bed.client_key.path),
                 # Host keys checked against this run's file, never turned off.
                 "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"},
        "children": {"registry": {"hosts": {server.address: None}}, "clients": {"hosts": {client.address: None}}},
    }}
    (work / "inventory.yml").write_text(json.dumps(inventory, indent=1))  # JSON is YAML
    (work / "vars.json").write_text(json.dumps(_baseline_values(bed, work)))
    (work / "cp").mkdir()
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "benchmarks" / "ansible" / "ansible.cfg"),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"), "ANSIBLE_NOCOLOR": "1",
           "REGISTRY_PASSWORD": password}
    try:
        return _run_tool("ansible", [str(BENCH_VENV / "ansible-playbook"), "-i", str(work / "inventory.yml"),
                                     "-e", f"@{work / 'vars.json'}", "site.yml"],
                         env, ROOT / "benchmarks" / "ansible", work)
    finally:  # untimed: end the ControlPersist masters, drop the tarball
        for socket in (work / "cp").iterdir():
            subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "benchmark"],
                           capture_output=True, check=False, timeout=30)
        (work / "registry.tar").unlink(missing_ok=True)


def pyinfra_run(bed: Testbed, server: TestHost, client: TestHost, password: str) -> float:
    """Wall time of `pyinfra -y INVENTORY deploy.py` (benchmarks/pyinfra) with a per-run inventory."""
    assert bed.client_key is not None
    work = Path(tempfile.mkdtemp(prefix="regwiz-bench-pyinfra-"))
    known = known_hosts([server, client], work / "known_hosts")
    data = {"ssh_user": "root", "ssh_key": str(bed.client_key.path), "ssh_known_hosts_file": str(known),
            "ssh_strict_host_key_checking": "yes", **_baseline_values(bed, work)}
    (work / "inventory.py").write_text(f"registry = [({server.address!r}, {data!r})]\n"
                                       f"clients = [({client.address!r}, {data!r})]\n")
    env = {**os.environ, "REGISTRY_PASSWORD": password}
    try:
        return _run_tool("pyinfra", [str(BENCH_VENV / "pyinfra"), "-y", str(work / "inventory.py"), "deploy.py"],
                         env, ROOT / "benchmarks" / "pyinfra", work)
    finally:
        (work / "registry.tar").unlink(missing_ok=True)


def check_end_state(server: TestHost, client: TestHost, password: str) -> None:
    """The same proof for every tool, from outside SSH: auth enforced over TLS, and the client pulls."""
    registry = f"{server.address}:{PORT}"
    ca = f"/etc/docker/certs.d/{registry}/ca.crt"
    base = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca]
    anonymous = client.exec(*base, f"https://{registry}/v2/").stdout
    assert anonymous == "401", f"anonymous /v2/ answered {anonymous}, not 401"
    authed = client.exec(*base, "-u", f"{USER}:{password}", f"https://{registry}/v2/").stdout
    assert authed == "200", f"{USER}'s /v2/ answered {authed}, not 200"
    catalog = json.loads(client.exec("curl", "-s", "--cacert", ca, "-u", f"{USER}:{password}",
                                     f"https://{registry}/v2/_catalog").stdout)
    repository = catalog["repositories"][0]
    tags = json.loads(client.exec("curl", "-s", "--cacert", ca, "-u", f"{USER}:{password}",
                                  f"https://{registry}/v2/{repository}/tags/list").stdout)["tags"]
    image = f"{registry}/{repository}:{tags[0]}"
    client.exec("docker", "image", "rm", "-f", image, check=False)
    pulled = client.exec("docker", "pull", image, check=False)  # with the login the tool stored
    assert pulled.returncode == 0, f"the client could not pull {image}: {pulled.stderr.strip()}"


FLOOR_RUNS: list[floor.FloorRun] = []  # the floor's runs, for their time split


def floor_run(bed: Testbed, server: TestHost, client: TestHost, password: str) -> float:
    """Wall time of the floor (benchmarks/floor.py): one OpenSSH command per host, both at once."""
    assert bed.images is not None and bed.client_key is not None
    work = Path(tempfile.mkdtemp(prefix="regwiz-bench-floor-"))
    done = floor.end_to_end(server.address, client.address, bed.client_key.path,
                            known_hosts([server, client], work / "known_hosts"), bed.images.registry, USER,
                            password, work)
    FLOOR_RUNS.append(done)
    print(f"[bench] end_to_end: floor {done.wall:.1f} s; {done.note()}", file=sys.stderr, flush=True)
    return done.wall


RUNS = {"regwiz": regwiz_run, "ansible": ansible_run, "pyinfra": pyinfra_run, "floor": floor_run}


def one_round(tool: str, debs: list[Path], delay_ms: float = 0) -> tuple[float, SSHCounts]:
    with Testbed() as bed:
        server, client = bed.start("ecs_conflict", "linux_client")
        if tool != "floor":  # untimed, for every tool that runs Python on the hosts (the floor runs none)
            for host in (server, client):  # see the module's docstring
                install_debs(host, debs)
        count_sshd([server, client])
        time.sleep(1)  # the journal's --since has a resolution of one second
        since = time.time()
        password = "bench-" + secrets.token_urlsafe(12)
        with Link(delay_ms) as link:  # every SSH connection to both hosts through the same delay
            if delay_ms:
                link.add(server.address)
                link.add(client.address)
            elapsed = RUNS[tool](bed, server, client, password)
        try:
            check_end_state(server, client, password)
        except AssertionError as exc:
            raise RuntimeError(f"{tool} did not reach the end state: {exc}") from exc
        counts = sshd_counts(server, since) + sshd_counts(client, since)
        print(f"[bench] end_to_end: {tool} at {delay_ms:g} ms: {counts}", file=sys.stderr, flush=True)
        return elapsed, counts


def link_delay(debs: list[Path], delay_ms: float) -> str:
    """What the link really adds: 1-byte TCP round trips through the forwarder, and a tiny SSH command
    on an open connection to a testbed host, direct against through the link."""
    direct_echo, delayed_echo = echo_round_trips(delay_ms)
    with Testbed() as bed:
        host, = bed.start("linux_client")
        assert bed.client_key is not None
        known = known_hosts([host], Path(tempfile.mkdtemp(prefix="regwiz-bench-rtt-")) / "known_hosts")
        direct = ssh_command_ms(host.address, str(bed.client_key.path), str(known))
        with Link(delay_ms) as link:
            link.add(host.address)
            delayed = ssh_command_ms(host.address, str(bed.client_key.path), str(known))
    return (f"the link ({delay_ms:g} ms each way): a TCP round trip {direct_echo:.2f} ms direct, "
            f"{delayed_echo:.1f} ms through it; `ssh HOST true` on an open connection {direct:.0f} ms direct, "
            f"{delayed:.0f} ms through it (+{delayed - direct:.0f} ms, {(delayed - direct) / (2 * delay_ms):.1f} "
            f"round trips)")


def run(repeat: int) -> list[Figure]:
    debs = python3_debs()
    figures: list[Figure] = []
    for delay in DELAYS:
        counts: dict[str, SSHCounts] = {}

        def timed(tool: str, delay: float = delay, counts: dict[str, SSHCounts] = counts):  # type: ignore[no-untyped-def]
            def once() -> float:
                elapsed, counts[tool] = one_round(tool, debs, delay)
                return elapsed
            return once

        FLOOR_RUNS.clear()
        times = interleaved({tool: timed(tool) for tool in TOOLS}, repeat)
        where = "loopback" if not delay else f"{delay:g} ms each way"
        runs = "; ".join(f"{tool} {'/'.join(f'{t:.1f}' for t in times[tool])} s" for tool in TOOLS)
        notes = [f"{tool}: {counts[tool]} (both hosts, last run)" for tool in TOOLS] + [f"runs: {runs}"]
        if FLOOR_RUNS:
            notes.append(floor_split_note(FLOOR_RUNS))
        if delay:
            notes.append(link_delay(debs, delay))

        def mid(tool: str, times: dict[str, list[float]] = times) -> float:
            return median(times[tool]) if times.get(tool) else NAN

        def commands(tool: str, counts: dict[str, SSHCounts] = counts) -> float:
            return counts[tool].commands if tool in counts else NAN

        figures += [
            Figure(f"end to end vs Ansible, {where}", mid("regwiz"), mid("ansible"), "s", "<= 0.3x", 0.3,
                   notes=notes, floor=mid("floor")),
            Figure(f"end to end vs pyinfra, {where}", mid("regwiz"), mid("pyinfra"), "s", "<= 0.8x", 0.8,
                   floor=mid("floor")),
        ]
        if not delay:  # the same commands at any delay: counted once
            figures.append(Figure("remote commands vs Ansible", commands("regwiz"), commands("ansible"),
                                  "commands", "<= 1x", 1.0, floor=commands("floor")))
    return figures


def floor_split_note(runs: list[floor.FloorRun]) -> str:
    """The split of the floor's median run."""
    ordered = sorted(runs, key=lambda r: r.wall)
    return ordered[(len(ordered) - 1) // 2].note()
