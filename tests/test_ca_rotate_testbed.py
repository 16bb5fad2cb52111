"""``regwiz ca rotate`` on real hosts: a new CA trusted by every client, the registry moved to it, the old
CA removed; then a rotation during which one client's machine dies, reported, and finished by --resume.

The registry is deployed and its clients configured by the real ``regwiz deploy`` and ``regwiz clients``
from one profile, so the clients trust regwiz's own CA of the same REGWIZ_HOME the rotation changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

from app import pki
from app.registry.client import RegistryClient, RegistryEndpoint, RegistryTLSError
from tests.cli_helpers import ROOT, json_lines, registry_profile, regwiz
from tests.testbed.docker_cli import docker, docker_json
from tests.testbed.hosts import Testbed, TestHost

# Three Docker clients of different kinds (systemd, SysV, boot2docker), on each of two releases (issue 15).
CLIENTS = ("linux_client", "sysv_client", "boot2docker")
#: The client whose machine dies during the second rotation, per release: a different kind on each.
VICTIM = {"bookworm": 1, "trixie": 2}


def ca_file(host: TestHost, address: str) -> str:
    """The ca.crt a client's dockerd reads (boot2docker: where /etc/docker links to, surviving a reboot)."""
    base = "/var/lib/boot2docker/etc/docker" if host.name == "boot2docker" else "/etc/docker"
    return host.exec("cat", f"{base}/certs.d/{address}/ca.crt").stdout


def served_by(server: TestHost, ca_pem: bytes) -> bool:
    """Whether a client trusting only ``ca_pem`` accepts the certificate the registry shows."""
    try:
        RegistryClient(RegistryEndpoint(server.address, 5000, True, ca_pem, None, None, timeout=10)).tls_handshake()
    except RegistryTLSError:
        return False
    return True


def pulls(host: TestHost, ref: str) -> bool:
    """A real pull by the client's own docker (logged in by regwiz), the image removed first."""
    host.exec("docker", "rmi", "-f", ref, check=False)
    return host.exec("docker", "pull", ref, check=False, timeout=300).returncode == 0


def rotate_while(args: list[str], env: dict[str, str], when: str, action) -> tuple[int, list[dict], str]:  # type: ignore[no-untyped-def]
    """``regwiz ca rotate ARGS --json``, running ``action()`` as soon as a record of type ``when`` is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "app", "ca", "rotate", *args, "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    records, done = [], False
    for line in proc.stdout:
        if line.strip():
            records.append(json.loads(line))
            if not done and records[-1]["type"] == when:
                action()
                done = True
    stderr = proc.stderr.read()
    return proc.wait(timeout=900), records, stderr


def rotate_all(profile: Path, server: TestHost, clients: list[TestHost], address: str, ref: str,
               first: pki.CertificateAuthority, env: dict[str, str]) -> tuple[pki.CertificateAuthority, float]:
    """``ca rotate --yes`` with every client up: each trusts both, then the new CA alone, and pulls."""
    t0 = time.monotonic()
    rotated = regwiz("ca", "rotate", "--profile", str(profile), "--yes", "--json", env=env, timeout=1200)
    rotate_seconds = time.monotonic() - t0
    assert rotated.returncode == 0, rotated.stdout[-4000:] + rotated.stderr
    objects = json_lines(rotated.stdout)
    second = pki.load_or_create_ca()
    assert second.fingerprint_sha256 != first.fingerprint_sha256
    both = [o for o in objects if o["type"] == "plan" and o.get("phase") == "trust-both"]
    # ca.crt held both: the new certificate added, the old one kept (a context line of the diff)
    assert len(both) == len(clients), both
    for plan in both:
        assert plan["diff"].count("\n+-----BEGIN CERTIFICATE") == 1, plan["diff"]
        assert plan["diff"].count("\n -----BEGIN CERTIFICATE") == 1, plan["diff"]
        assert "\n------BEGIN CERTIFICATE" not in plan["diff"], plan["diff"]
    final = [o for o in objects if o["type"] == "client" and o["phase"] == "new-ca-only"]
    assert [o["status"] for o in final] == ["ok"] * len(clients), final
    assert all(o["pull_seconds"] > 0 for o in final)
    assert objects[-2]["type"] == "rotation" and objects[-2]["status"] == "ok"
    # No client trusts the old CA: their ca.crt holds the new CA's certificate alone.
    for host in clients:
        assert pki.fingerprints(ca_file(host, address).encode()) == [second.fingerprint_sha256], host.name
        assert pulls(host, ref), host.name
    assert served_by(server, second.cert_pem) and not served_by(server, first.cert_pem)
    assert not pki.previous_ca_dir().exists() and not (pki.ca_dir() / "rotation.json").exists()
    for secret in (env["REGISTRY_CI_PASSWORD"], env["ECS_PASSWORD"]):
        assert secret not in rotated.stdout + rotated.stderr
    return second, rotate_seconds


def test_rotation_files_keep_the_old_ca_until_finished(regwiz_home: Path) -> None:
    old = pki.load_or_create_ca()
    kept, new = pki.start_rotation()
    assert kept.cert_pem == old.cert_pem and new.cert_pem != old.cert_pem
    assert pki.load_or_create_ca().cert_pem == new.cert_pem  # the current CA is the new one
    assert pki.previous_ca() is not None and pki.previous_ca().key_pem == old.key_pem  # type: ignore[union-attr]
    assert (pki.previous_ca_dir() / pki.CA_KEY_NAME).stat().st_mode & 0o777 == 0o600
    again_old, again_new = pki.start_rotation()  # a second start continues, never makes a third CA
    assert (again_old.cert_pem, again_new.cert_pem) == (old.cert_pem, new.cert_pem)
    bundle = pki.trust_bundle(new.cert_pem, old.cert_pem, new.cert_pem)
    assert pki.fingerprints(bundle) == [new.fingerprint_sha256, old.fingerprint_sha256]
    server = pki.issue_server_certificate(new, ["10.0.0.5"])
    leaf = x509.load_pem_x509_certificate(server.cert_pem)
    leaf.verify_directly_issued_by(new.certificate)
    pki.finish_rotation()
    assert pki.previous_ca() is None and not pki.previous_ca_dir().exists()
    assert pki.load_or_create_ca().cert_pem == new.cert_pem


def test_ca_rotate_refuses_without_a_rotation_to_resume(regwiz_home: Path, cli_env: dict[str, str]) -> None:
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = regwiz_home / "p.toml"
    profile.write_text('[server]\nhost = "10.0.0.9"\n[registry]\ntls = "own-ca"\n'
                       '[[registry.users]]\nname = "ci"\npassword_env = "REGISTRY_CI_PASSWORD"\n')
    pki.load_or_create_ca()
    resumed = regwiz("ca", "rotate", "--profile", str(profile), "--resume", "--yes", env=cli_env)
    assert resumed.returncode == 2 and "no CA rotation is in progress" in resumed.stderr, resumed.stderr
    plain = regwiz("ca", "rotate", "--profile", str(profile), env=cli_env)  # without --yes: a plan, no change
    assert plain.returncode == 0, plain.stderr
    assert "make a new CA" in plain.stdout and not pki.previous_ca_dir().exists()
    assert "Traceback" not in resumed.stderr + plain.stderr


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_cert_renew_then_ca_rotate_then_one_that_dies_and_resume(release: str, testbed: Testbed,
                                                                  cli_env: dict[str, str], regwiz_home: Path) -> None:
    """One scenario per release of the clients, on the same four hosts: cert renew (clients unchanged, all pull), on
    bookworm a rotation with every client up, then a rotation during which one client's machine dies
    (reported, the rest finish), then --resume for it: all pull, and none trusts an old CA."""
    started = time.monotonic()
    # The registry's host is bookworm's in both: on trixie's Docker 26 here, `docker run -p` fails inside the
    # testbed's container ("failed to add interface veth... to sandbox", an IPv6 setting on eth0).
    hosts = testbed.start("ecs", *(f"{name}@{release}" for name in CLIENTS))
    server, clients = hosts[0], hosts[1:]
    try:
        regwiz_home.mkdir(parents=True, exist_ok=True)
        profile = registry_profile(regwiz_home, server, cli_env, name="rotate.toml",
                                   comment="a registry and its clients, whose CA is rotated", clients=clients)
        address = f"{server.address}:5000"
        ref = f"{address}/regwiz/hello:latest"
        deployed = regwiz("deploy", "--profile", str(profile), "--yes", "--json", env=cli_env)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
        configured = regwiz("clients", "--profile", str(profile), "--yes", "--json", env=cli_env)
        assert configured.returncode == 0, configured.stdout[-3000:] + configured.stderr
        first = pki.load_or_create_ca()
        assert all(pki.fingerprints(ca_file(h, address).encode()) == [first.fingerprint_sha256] for h in clients)
        setup_seconds = time.monotonic() - started

        # cert renew: a new certificate from the same CA; the clients' files are not touched, and all pull.
        before = {h.name: ca_file(h, address) for h in clients}
        t0 = time.monotonic()
        renewed = regwiz("cert", "renew", "--profile", str(profile), "--yes", "--json", env=cli_env)
        renew_seconds = time.monotonic() - t0
        assert renewed.returncode == 0, renewed.stdout[-3000:] + renewed.stderr
        record = next(o for o in json_lines(renewed.stdout) if o["type"] == "certificate")
        assert record["served_serial"] == record["new_serial"] != record["old_serial"], record
        for host in clients:
            assert ca_file(host, address) == before[host.name], host.name
            assert pulls(host, ref), f"{host.name} on {release} after cert renew"

        # Without --yes: the plan only.
        planned = regwiz("ca", "rotate", "--profile", str(profile), "--json", env=cli_env)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert [o for o in json_lines(planned.stdout) if o["type"] == "plan"]
        assert pki.load_or_create_ca().cert_pem == first.cert_pem and not pki.previous_ca_dir().exists()

        second, rotate_seconds = first, 0.0
        if release == "bookworm":  # every client reachable: all of it in one run (once: the path is the same)
            second, rotate_seconds = rotate_all(profile, server, clients, address, ref, first, cli_env)

        # Again, and one client's machine dies as the rotation starts: reported, the others finish.
        victim = clients[VICTIM[release]]
        t1 = time.monotonic()
        code, records, stderr = rotate_while(["--profile", str(profile), "--yes"], cli_env, "ca",
                                             lambda: docker("kill", victim.container))
        broken_seconds = time.monotonic() - t1
        assert code == 1, json.dumps(records[-6:]) + stderr
        third = pki.load_or_create_ca()
        outcome = next(o for o in records if o["type"] == "rotation")
        victim_name = f"root@{victim.address}"
        assert outcome["status"] == "failure" and outcome["unfinished"] == [victim_name], outcome
        lost = [o for o in records if o["type"] == "client" and o["client"] == victim_name]
        assert lost and all(o["status"] == "failure" for o in lost), lost
        print("\nthe dead client:", *(f"{o['phase']}: {o['message']}" for o in lost), outcome["summary"], sep="\n  ")
        assert "still trusting only the old CA" in outcome["summary"] and "unknown authority" in outcome["summary"]
        assert "--resume --yes" in outcome["summary"]
        assert "Traceback" not in stderr
        for host in clients:
            if host is not victim:
                assert pki.fingerprints(ca_file(host, address).encode()) == [third.fingerprint_sha256], host.name
                assert pulls(host, ref), f"{host.name} on {release} after the rotation"
        assert served_by(server, third.cert_pem) and not served_by(server, second.cert_pem)
        assert pki.previous_ca() is not None and pki.previous_ca().cert_pem == second.cert_pem  # type: ignore[union-attr]
        state = json.loads((pki.ca_dir() / "rotation.json").read_text())
        assert state["registry"] is True and victim_name not in [n for n, s in state["clients"].items() if s == "done"]
        again = regwiz("ca", "rotate", "--profile", str(profile), "--yes", env=cli_env)
        assert again.returncode == 2 and "--resume" in again.stderr  # never a second rotation on top

        # The machine is back: it still has the old CA only, so it cannot pull; --resume finishes it.
        docker("start", victim.container)
        back = docker_json("container", "inspect", victim.container)[0]
        assert next(iter(back["NetworkSettings"]["Networks"].values()))["IPAddress"] == victim.address
        victim.wait_ready()
        assert pki.fingerprints(ca_file(victim, address).encode()) == [second.fingerprint_sha256]
        assert not pulls(victim, ref)
        t2 = time.monotonic()
        resumed = regwiz("ca", "rotate", "--profile", str(profile), "--resume", "--yes", "--json", env=cli_env,
                         timeout=1200)
        resume_seconds = time.monotonic() - t2
        assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr
        done = [o for o in json_lines(resumed.stdout) if o["type"] == "client"]
        assert [(o["client"], o["phase"], o["status"]) for o in done] == [(victim_name, "new-ca-only", "ok")]
        assert pki.fingerprints(ca_file(victim, address).encode()) == [third.fingerprint_sha256]
        assert pulls(victim, ref)
        assert not pki.previous_ca_dir().exists() and not (pki.ca_dir() / "rotation.json").exists()
        for host in clients:  # no client trusts an old CA: its ca.crt holds the new CA's certificate alone
            assert pki.fingerprints(ca_file(host, address).encode()) == [third.fingerprint_sha256], host.name
        team = regwiz("export-team-profile", "--profile", str(profile), env=cli_env)  # the team profile follows
        assert team.returncode == 0, team.stderr
        assert pki.fingerprints(_pem_of(team.stdout)) == [third.fingerprint_sha256], team.stdout

        # No password anywhere regwiz wrote or printed.
        secrets = [server.root_password, cli_env["REGISTRY_CI_PASSWORD"], *(h.root_password for h in clients)]
        outputs = [renewed.stdout + renewed.stderr, json.dumps(records) + stderr, resumed.stdout + resumed.stderr]
        for secret in secrets:
            assert not any(secret in text for text in outputs)
            for path in regwiz_home.rglob("*"):
                if path.is_file():
                    assert secret not in path.read_text(errors="replace"), path
        print(f"\ntimings on {release}: setup {setup_seconds:.0f} s, cert renew {renew_seconds:.0f} s, rotate "
              f"{rotate_seconds:.0f} s, rotate with a dead client "
              f"{broken_seconds:.0f} s, resume {resume_seconds:.0f} s")
    finally:
        for host in hosts:
            testbed.remove(host)


def test_ca_rotate_containerd_and_podman_clients(testbed: Testbed, cli_env: dict[str, str],
                                                 regwiz_home: Path) -> None:
    """containerd's hosts.toml `ca` file and podman's certs.d take the two CAs, then the new one alone."""
    hosts = testbed.start("ecs", "containerd_node", "podman_client@trixie")
    server, clients = hosts[0], hosts[1:]
    try:
        regwiz_home.mkdir(parents=True, exist_ok=True)
        profile = registry_profile(regwiz_home, server, cli_env, name="rotate.toml",
                                   comment="a registry and its clients, whose CA is rotated", clients=clients)
        address = f"{server.address}:5000"
        assert regwiz("deploy", "--profile", str(profile), "--yes", env=cli_env).returncode == 0
        configured = regwiz("clients", "--profile", str(profile), "--yes", "--json", env=cli_env)
        assert configured.returncode == 0, configured.stdout[-3000:] + configured.stderr
        paths = {clients[0].name: f"/etc/containerd/certs.d/{address}/ca.crt",
                 clients[1].name: f"/etc/containers/certs.d/{address}/ca.crt"}
        first = pki.load_or_create_ca()
        rotated = regwiz("ca", "rotate", "--profile", str(profile), "--yes", "--json", env=cli_env, timeout=1200)
        assert rotated.returncode == 0, rotated.stdout[-4000:] + rotated.stderr
        objects = json_lines(rotated.stdout)
        final = [(o["kind"], o["phase"], o["status"]) for o in objects if o["type"] == "client"]
        assert final == [("containerd", "trust-both", "ok"), ("podman", "trust-both", "ok"),
                         ("containerd", "new-ca-only", "ok"), ("podman", "new-ca-only", "ok")], final
        second = pki.load_or_create_ca()
        assert second.fingerprint_sha256 != first.fingerprint_sha256
        for host in clients:
            assert pki.fingerprints(host.exec("cat", paths[host.name]).stdout.encode()) == \
                [second.fingerprint_sha256], host.name
        hosts_toml = clients[0].exec("cat", f"/etc/containerd/certs.d/{address}/hosts.toml").stdout
        assert f'ca = "{paths[clients[0].name]}"' in hosts_toml
        assert served_by(server, second.cert_pem) and not served_by(server, first.cert_pem)
    finally:
        for host in hosts:
            testbed.remove(host)


def _pem_of(text: str) -> bytes:
    start = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return text[start:end].encode().replace(b"\\n", b"\n")
