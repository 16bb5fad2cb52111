"""Fan-out: the client part alone (trust the registry's CA, log in, prove a pull) on 8 and on 32 fresh
`linux_client` hosts, regwiz against the clients part of the Ansible playbook (benchmarks/ansible/
clients.yml, forks = the number of hosts), each on hosts of its own, the same end state. Goal: regwiz in
at most 0.5x Ansible's wall time at 8 and at 32.

The registry is deployed once by regwiz's engine (an `ecs` host) and its test image pushed before any
clock starts; each round boots its hosts (systemd up, dockerd answering, Debian's python3 installed for
Ansible's modules, for both tools alike) before the clock starts. regwiz runs as a user runs it:
`regwiz clients --profile P --inventory FILE --forks N --yes` (the hosts from an Ansible inventory);
its CPU seconds and peak memory are the process's own (wait4, with the ansible-inventory it runs),
the machine's CPU is /proc/stat's busy time over the run: on one 2-core machine the hosts (sshd, sudo,
docker CLI, dockerd, the registry checking bcrypt) share the cores with both tools, and the CPU the
testbed's containers used during the run (their cgroups' counters: every client, the registry host and
the registry's own container) shows how much of it is host work rather than the tool's.

The floor (benchmarks/floor.py): one OpenSSH command per client, all at once, each trusting the CA,
waiting for its turn (the controller lets at most 8 log in and pull at once, as both tools bound them),
then logging in and pulling: the least time any tool could take for this end state on these hosts. Its
CPU is this process's and its ssh processes'. $REGWIZ_BENCH_TOOLS=floor,ansible runs those alone."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks import floor
from benchmarks.common import NAN, Figure, median, selected
from benchmarks.end_to_end import BENCH_VENV, ROOT
from benchmarks.hosts import (
    ContainersCPU,
    SSHCounts,
    container_ids,
    count_sshd,
    install_debs,
    known_hosts,
    python3_debs,
    sshd_counts,
)
from tests.testbed.hosts import Testbed, TestHost

DEFAULT_REPEAT = 1  # 32 hosts take minutes and GBs: once per size
# REGWIZ_BENCH_FANOUT_SIZES=8 runs the 8-host case alone (while developing: 32 hosts take minutes and GBs)
SIZES = tuple(int(n) for n in os.environ.get("REGWIZ_BENCH_FANOUT_SIZES", "8,32").split(","))
TOOLS = selected(("regwiz", "ansible", "floor"))
AT_ONCE = 8  # logins and pulls at once against the one registry, as both tools bound them
BOOT_BATCH = 8  # hosts booted at once, untimed


def machine_busy_seconds() -> float:
    """CPU seconds this machine has spent busy (all cores, every process), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return float("nan")
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


@dataclass
class Sample:
    wall: float
    cpu: float  # the tool's process (and what it waited for), user + system
    peak_mb: float
    machine: float  # the machine's busy CPU seconds meanwhile
    counts: SSHCounts
    hosts: float = NAN  # CPU seconds the testbed's containers used meanwhile (clients, registry host, registry)


def _timed(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak MB of one command (its output to ``log``); a failure raises."""
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed (exit {proc.returncode}): {log.read_text()[-2500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def regwiz_argv(home: Path, server: TestHost, clients: list[TestHost], key: Path, forks: int) -> list[str]:
    inventory = home / f"fleet-{len(clients)}.ini"
    inventory.write_text("[fleet]\n" + "".join(f"c{i} ansible_host={h.address}\n" for i, h in enumerate(clients))
                         + f"\n[fleet:vars]\nansible_user=root\nansible_ssh_private_key_file={key}\n")
    profile = home / "fanout.toml"
    profile.write_text(f'[server]\nhost = "{server.address}"\nuser = "root"\nidentity_file = "{key}"\n\n'
                       '[registry]\nport = 5000\ntls = "own-ca"\nauth = "htpasswd"\n[[registry.users]]\n'
                       'name = "ci"\npassword_env = "BENCH_REGISTRY_PASSWORD"\n')
    return [sys.executable, "-m", "app", "clients", "--profile", str(profile), "--inventory", str(inventory),
            "--forks", str(forks), "--yes"]


def ansible_argv(work: Path, clients: list[TestHost], key: Path, registry: str, ca_file: Path,
                 image: str) -> list[str]:
    known = known_hosts(clients, work / "known_hosts")
    inventory = {"all": {
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(key),
                 "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"},
        "children": {"clients": {"hosts": {h.address: None for h in clients}}}}}
    (work / "inventory.yml").write_text(json.dumps(inventory))
    (work / "vars.json").write_text(json.dumps({"registry": registry, "ca_file": str(ca_file),
                                                "registry_user": "ci", "test_image": image}))
    return [str(BENCH_VENV / "ansible-playbook"), "-i", str(work / "inventory.yml"), "-f", str(len(clients)),
            "-e", f"@{work / 'vars.json'}", "clients.yml"]


def check_end_state(clients: list[TestHost], registry: str, image: str) -> None:
    """Every client trusts the CA, holds the login and has the image it pulled (seen from outside SSH)."""
    for host in clients:
        assert host.exec("test", "-s", f"/etc/docker/certs.d/{registry}/ca.crt", check=False).returncode == 0, \
            f"{host.address}: no CA in certs.d"
        config = json.loads(host.exec("cat", "/root/.docker/config.json").stdout)
        assert registry in config.get("auths", {}), f"{host.address}: no login for {registry}"
        assert host.exec("docker", "image", "inspect", image, check=False).returncode == 0, \
            f"{host.address}: {image} was not pulled"


def one_round(bed: Testbed, tool: str, n: int, server: TestHost, home: Path, password: str,
              debs: list[Path]) -> Sample:
    assert bed.client_key is not None
    key = bed.client_key.path
    registry = f"{server.address}:5000"
    image = f"{registry}/regwiz/hello:latest"
    clients: list[TestHost] = []
    for _ in range(0, n, BOOT_BATCH):  # (32 at once overran the testbed's boot time-out on a loaded machine)
        clients += bed.start(*["linux_client"] * min(BOOT_BATCH, n - len(clients)))
    try:
        if tool != "floor":  # untimed, for both tools alike (the floor runs no Python on the hosts)
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda host: install_debs(host, debs), clients))
        count_sshd(clients)
        time.sleep(1)  # (the journal's --since counts whole seconds)
        since = time.time()
        work = Path(tempfile.mkdtemp(prefix=f"regwiz-bench-fanout-{tool}-"))
        env = {**os.environ, "REGWIZ_HOME": str(home), "BENCH_REGISTRY_PASSWORD": password,
               "REGISTRY_PASSWORD": password, "PYTHONPATH": str(ROOT),
               "PATH": f"{BENCH_VENV}{os.pathsep}{os.environ.get('PATH', '')}",  # ansible-inventory for regwiz
               "ANSIBLE_CONFIG": str(ROOT / "benchmarks" / "ansible" / "ansible.cfg"),
               "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work), "ANSIBLE_NOCOLOR": "1"}
        # (the clients run no containers of their own: their dockerd's are not asked)
        hosts_cpu = ContainersCPU(container_ids([server]) + container_ids(clients, inner=False))
        if tool == "floor":
            busy = machine_busy_seconds()
            own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            wall, marks = floor.fan_out([h.address for h in clients], key, known_hosts(clients, work / "known_hosts"),
                                        (home / "ca.crt").read_bytes(), registry, "ci", image, password, AT_ONCE)
            own2, children2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            machine = machine_busy_seconds() - busy
            cpu = sum(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                      for before, after in ((own, own2), (children, children2)))
            peak = NAN
            (work / "output.txt").write_text("".join(f"{floor.MARK} {name} {t}\n"
                                                     for m in marks for name, t in m.items()))
            return _sample(tool, n, wall, cpu, peak, machine, hosts_cpu, clients, since, registry, image, work)
        if tool == "regwiz":
            state = home / "state"
            (state / "known_hosts").write_text("".join(line + "\n" for h in clients for line in h.known_hosts_lines()))
            argv, cwd = regwiz_argv(home, server, clients, key, n), ROOT
        else:
            argv = ansible_argv(work, clients, key, registry, home / "ca.crt", image)
            cwd = ROOT / "benchmarks" / "ansible"
        busy = machine_busy_seconds()
        wall, cpu, peak = _timed(argv, env, cwd, work / "output.txt")
        machine = machine_busy_seconds() - busy
        return _sample(tool, n, wall, cpu, peak, machine, hosts_cpu, clients, since, registry, image, work)
    finally:
        for host in clients:
            bed.remove(host)


def _sample(tool: str, n: int, wall: float, cpu: float, peak: float, machine: float, hosts_cpu: ContainersCPU,
            clients: list[TestHost], since: float, registry: str, image: str, work: Path) -> Sample:
    """After a run (untimed): the containers' CPU, sshd's counts, the end state checked."""
    hosts = hosts_cpu.used()
    counts = sum((sshd_counts(h, since) for h in clients), SSHCounts())
    check_end_state(clients, registry, image)
    missing = f" ({len(hosts_cpu.missing)} containers' cgroups not found)" if hosts_cpu.missing else ""
    print(f"[bench] fanout: {tool} {n} clients {wall:.1f} s, {cpu:.2f} CPU-s, peak {peak:.0f} MB, the machine "
          f"{machine:.1f} CPU-s, the testbed's containers {hosts:.1f} CPU-s{missing}, {counts} "
          f"(output: {work / 'output.txt'})", file=sys.stderr, flush=True)
    return Sample(wall, cpu, peak, machine, counts, hosts)


def run(repeat: int) -> list[Figure]:
    from app import pki
    from tests.registry_helpers import deployed

    debs = python3_debs()
    home = Path(tempfile.mkdtemp(prefix="regwiz-bench-fanout-"))
    (home / "state").mkdir(parents=True)
    old_home = os.environ.get("REGWIZ_HOME")
    os.environ["REGWIZ_HOME"] = str(home)  # the registry's CA is this home's: the CLI runs use it too
    samples: dict[tuple[str, int], list[Sample]] = {(t, n): [] for t in TOOLS for n in SIZES}
    try:
        with Testbed() as bed:
            server, = bed.start("ecs")
            registry = asyncio.run(deployed(bed, server, home))
            assert registry.password is not None
            password = registry.password.reveal()
            (home / "ca.crt").write_bytes(pki.load_or_create_ca().cert_pem)
            for round_ in range(repeat):
                for n in SIZES:
                    for tool in (TOOLS if (round_ + SIZES.index(n)) % 2 == 0 else tuple(reversed(TOOLS))):
                        samples[(tool, n)].append(one_round(bed, tool, n, server, home, password, debs))
    finally:
        if old_home is None:
            os.environ.pop("REGWIZ_HOME", None)
        else:
            os.environ["REGWIZ_HOME"] = old_home
    cores = os.cpu_count() or 1
    figures = []
    for n in SIZES:
        walls = {tool: median([s.wall for s in samples[(tool, n)]]) for tool in TOOLS}
        notes = [where(tool, samples[(tool, n)], walls[tool], n, cores) for tool in TOOLS]
        notes.append("runs: " + "; ".join(f"{tool} " + "/".join(f"{s.wall:.1f}" for s in samples[(tool, n)]) + " s"
                                          for tool in TOOLS))
        figures.append(Figure(f"fan-out {n} clients vs Ansible", walls.get("regwiz", NAN), walls.get("ansible", NAN),
                              "s", "<= 0.5x", 0.5, notes=notes, floor=walls.get("floor", NAN)))
    return figures


def where(tool: str, got: list[Sample], wall: float, n: int, cores: int) -> str:
    """Where a tool's time went: its own CPU, the hosts' (the testbed's containers), the machine's."""
    cpu, peak = median([s.cpu for s in got]), median([s.peak_mb for s in got])
    machine, hosts = median([s.machine for s in got]), median([s.hosts for s in got])
    memory = "" if peak != peak else f", peak {peak:.0f} MB ({peak / n:.1f} per client)"
    return (f"{tool}: {wall:.2f} s; its own {cpu:.2f} CPU-s ({cpu / n:.3f} per client){memory}; the testbed's "
            f"containers {hosts:.1f} CPU-s ({hosts / n:.2f} per client); the machine {machine:.1f} of "
            f"{cores * wall:.1f} CPU-s ({cores} cores x wall); {got[-1].counts}")
