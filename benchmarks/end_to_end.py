"""End to end: on fresh testbed hosts (an `ecs_conflict` registry host whose dockerd cannot start, and a
`linux_client`), diagnose and fix, deploy with TLS and auth, configure the client and prove its pull.

regwiz runs headless (`regwiz deploy --profile P --yes`, then `regwiz clients --profile P --yes`).
One checker, shared by every tool, then looks at the end state from outside SSH: the registry refuses
an anonymous request (401), answers the user (200), and the client's docker pulls from it with the
login it was given. sshd on both hosts counts the SSH connections and remote commands of the run.

Baselines (an Ansible playbook and a pyinfra deploy reaching the same end state) are not written yet:
see README, Benchmarks.
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

from benchmarks.common import Figure, median
from benchmarks.hosts import SSHCounts, count_sshd, sshd_counts
from tests.registry_helpers import unreachable_probe
from tests.testbed.hosts import Testbed, TestHost

DEFAULT_REPEAT = 2
ROOT = Path(__file__).resolve().parent.parent
PORT = 5000
USER = "ci"


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
    """Wall time of regwiz's headless deploy then clients, as a user runs them."""
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
    started = time.perf_counter()
    for command in ("deploy", "clients"):
        done = subprocess.run([sys.executable, "-m", "app", command, "--profile", str(profile), "--yes", "--json"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=900,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"regwiz {command} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return time.perf_counter() - started


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


def one_round(tool: str) -> tuple[float, SSHCounts]:
    with Testbed() as bed:
        server, client = bed.start("ecs_conflict", "linux_client")
        count_sshd([server, client])
        time.sleep(1)  # the journal's --since has a resolution of one second
        since = time.time()
        password = "bench-" + secrets.token_urlsafe(12)
        elapsed = {"regwiz": regwiz_run}[tool](bed, server, client, password)
        check_end_state(server, client, password)
        return elapsed, sshd_counts(server, since) + sshd_counts(client, since)


def run(repeat: int) -> list[Figure]:
    times: list[float] = []
    counts: list[SSHCounts] = []
    for _ in range(repeat):
        elapsed, count = one_round("regwiz")
        times.append(elapsed)
        counts.append(count)
    notes = [f"regwiz: {counts[-1]} (both hosts, last run); runs {'/'.join(f'{t:.1f}' for t in times)} s",
             "baselines (Ansible playbook, pyinfra deploy) not written yet: no ratio"]
    return [Figure("end to end vs Ansible", median(times), float("nan"), "s", "<= 0.5x", 0.5, notes=notes,
                   extra_pass=False)]
