"""The registry after day one, on real hosts: ls, prune (with a pull looping meanwhile), users, cert renew.

Each test deploys a registry with ``regwiz deploy`` from a profile, pushes images built here with
regwiz's own registry client, then runs the real ``regwiz registry ...`` / ``regwiz cert ...`` commands.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app import pki
from app.registry.client import (CONFIG_MEDIA, LAYER_MEDIA, SCHEMA2, RegistryAuthError, RegistryClient,
                                 RegistryEndpoint, RegistryError)
from app.registry.testimage import generate_test_image
from tests.cli_helpers import json_lines, regwiz, trust
from tests.testbed.hosts import TestHost

STORAGE = "/var/lib/registry"
LAYER_BYTES = 3 * 1024 * 1024


@dataclass
class Pushed:
    repository: str
    tag: str
    manifest: bytes
    digest: str
    blobs: dict[str, bytes] = field(default_factory=dict)  # config and layers

    @property
    def unique_bytes(self) -> int:
        return len(self.manifest) + sum(len(b) for b in self.blobs.values())


def push_image(client: RegistryClient, repository: str, tag: str, layers: list[bytes]) -> Pushed:
    """An image of the given layer blobs (the registry stores bytes, it does not unpack them)."""
    import hashlib

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
        digest(layer) for layer in layers]}, "history": [{"created_by": f"regwiz test {repository}:{tag}"}]}).encode()
    for blob in (*layers, config):
        client.push_blob(repository, blob)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": SCHEMA2,
                           "config": {"mediaType": CONFIG_MEDIA, "size": len(config), "digest": digest(config)},
                           "layers": [{"mediaType": LAYER_MEDIA, "size": len(layer), "digest": digest(layer)}
                                      for layer in layers]}).encode()
    stated = client.put_manifest(repository, tag, manifest, SCHEMA2)
    assert stated == digest(manifest)
    return Pushed(repository, tag, manifest, stated, {digest(b): b for b in (config, *layers)})


def pulls_identically(client: RegistryClient, image: Pushed) -> bool:
    body, digest = client.get_manifest(image.repository, image.tag)
    return body == image.manifest and digest == image.digest and all(
        client.get_blob(image.repository, d) == data for d, data in image.blobs.items())


def du(host: TestHost) -> int:
    return int(host.exec("du", "-sb", STORAGE).stdout.split()[0])


def started_at(host: TestHost) -> str:
    return host.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "registry").stdout.strip()


def deploy_from_profile(server: TestHost, home: Path, env: dict[str, str]) -> Path:
    """``regwiz deploy --yes`` from a profile, as a user would; the profile's path."""
    trust(server, home)
    env["ECS_PASSWORD"] = server.root_password
    home.mkdir(parents=True, exist_ok=True)
    profile = home / "ops.toml"
    profile.write_text(f'''# day-two operations
[server]
host = "{server.address}"
user = "root"
password_env = "ECS_PASSWORD"

[registry]
port = 5000
tls = "own-ca"
auth = "htpasswd"
storage = "{STORAGE}"
[[registry.users]]
name = "ci"
password_env = "REGISTRY_CI_PASSWORD"
''')
    deployed = regwiz("deploy", "--profile", str(profile), "--yes", "--json", env=env)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
    return profile


def client_for(server: TestHost, user: str, password: str) -> RegistryClient:
    return RegistryClient(RegistryEndpoint(server.address, 5000, True, pki.load_or_create_ca().cert_pem, user,
                                           password, timeout=10))


class PullLoop(threading.Thread):
    """Pulls a kept tag over and over (manifest and every blob, compared byte for byte) until stopped.

    A connection refused while the registry restarts is retried for up to 5 s, as a client retries;
    the retries are counted, and any wrong answer (an HTTP error, other bytes) is a failure.
    """

    def __init__(self, client: RegistryClient, image: Pushed) -> None:
        super().__init__(daemon=True)
        self.client, self.image = client, image
        self.stop = threading.Event()
        self.pulls = 0
        self.refused: list[float] = []  # when a connection was refused (the registry restarting)
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            deadline = time.monotonic() + 5
            while True:
                try:
                    if not pulls_identically(self.client, self.image):
                        self.failures.append("other bytes than pushed")
                    self.pulls += 1
                    break
                except RegistryError as exc:
                    if exc.status is None and time.monotonic() < deadline:  # no HTTP answer: not up yet
                        self.refused.append(time.monotonic())
                        time.sleep(0.05)
                        continue
                    self.failures.append(f"{exc.status}: {exc}")
                    break


async def test_ls_then_prune_keep_2_gives_the_space_back(fresh_host, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                                         regwiz_home: Path) -> None:
    server: TestHost = fresh_host("ecs")
    profile = deploy_from_profile(server, regwiz_home, cli_env)
    client = client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"])
    images = []
    for number in range(6):  # oldest first: each push rewrites its tag's link file, its push time
        images.append(push_image(client, "ops/app", f"v{number}", [secrets.token_bytes(LAYER_BYTES)]))
        time.sleep(0.05)
    shared_layer = secrets.token_bytes(LAYER_BYTES)
    twin_old = push_image(client, "ops/shared", "old", [shared_layer])  # the same layer as "new", its own config
    push_image(client, "ops/shared", "mid", [secrets.token_bytes(64 * 1024)])
    twin_new = push_image(client, "ops/shared", "new", [shared_layer])
    pushed_bytes = sum(i.unique_bytes for i in images) + twin_old.unique_bytes

    listed = regwiz("registry", "ls", "--profile", str(profile), "--json", env=cli_env)
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr
    lines = json_lines(listed.stdout)
    tags = {(o["repository"], o["tag"]): o for o in lines if o["type"] == "tag"}
    for image in images:
        row = tags[("ops/app", image.tag)]
        assert row["digest"] == image.digest
        assert row["size"] == image.unique_bytes - len(image.manifest)  # config + layers, as stored
        assert row["pushed"] is not None
    assert lines[-1]["type"] == "usage" and lines[-1]["bytes"] >= pushed_bytes
    assert abs(lines[-1]["bytes"] - du(server)) < 64 * 1024
    human = regwiz("registry", "ls", "--profile", str(profile), "--repo", "ops/shared", env=cli_env)
    assert human.returncode == 0 and "ops/shared:old" in human.stdout and "ops/app" not in human.stdout

    planned = regwiz("registry", "prune", "--profile", str(profile), "--keep", "2", "--repo", "ops/app", "--json",
                     env=cli_env)
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr
    plan_tags = [o for o in json_lines(planned.stdout) if o["type"] == "prune-tag"]
    assert sorted(o["tag"] for o in plan_tags) == ["v0", "v1", "v2", "v3"]
    unique = sum(i.unique_bytes for i in images[:4])
    assert next(o for o in json_lines(planned.stdout) if o["type"] == "prune-plan")["planned_bytes"] == unique
    assert client.head_manifest("ops/app", "v0") is not None  # without --yes nothing changed

    before, started = du(server), started_at(server)
    loop = PullLoop(client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"]), images[5])
    loop.start()
    try:
        pruned = regwiz("registry", "prune", "--profile", str(profile), "--keep", "2", "--repo", "ops/app", "--yes",
                        "--json", env=cli_env)
    finally:
        loop.stop.set()
        loop.join(30)
    assert pruned.returncode == 0, pruned.stdout[-3000:] + pruned.stderr
    after = du(server)
    report = next(o for o in json_lines(pruned.stdout) if o["type"] == "prune")
    assert sorted(d["tag"] for d in report["deleted"]) == ["v0", "v1", "v2", "v3"]
    measured = before - after
    print(f"pushed {pushed_bytes} bytes; the four deleted held {unique}; du {before} -> {after} "
          f"(freed {measured}); regwiz says freed {report['freed_bytes']} (planned {report['planned_bytes']}); "
          f"pulls meanwhile {loop.pulls}, refused connections {len(loop.refused)} over "
          f"{(loop.refused[-1] - loop.refused[0]) if loop.refused else 0:.2f} s")
    assert measured >= 0.9 * unique
    assert abs(report["freed_bytes"] - measured) <= 0.1 * measured
    assert loop.failures == [] and loop.pulls > 0
    assert started_at(server) != started  # it was restarted (read-only and back)
    assert "maintenance" not in server.exec("cat", "/etc/regwiz/registry/config.yml").stdout
    for image in images[4:]:
        assert pulls_identically(client, image)
    for image in images[:4]:
        assert client.head_manifest("ops/app", image.tag) is None
        assert client.head_manifest("ops/app", image.digest) is None
        try:
            client.get_manifest("ops/app", image.digest)
            raise AssertionError(f"{image.tag} still answers")
        except RegistryError as exc:
            assert exc.status == 404
    pushed_after = push_image(client, "ops/after", "v1", [secrets.token_bytes(1024)])  # pushes work again
    assert pulls_identically(client, pushed_after)

    # A tag whose layer a kept tag holds goes, and gives back about nothing: the plan says so.
    twin = regwiz("registry", "prune", "--profile", str(profile), "--keep", "2", "--repo", "ops/shared", "--yes",
                  "--json", env=cli_env)
    assert twin.returncode == 0, twin.stdout[-3000:] + twin.stderr
    [gone] = [o for o in json_lines(twin.stdout) if o["type"] == "prune-tag"]
    assert gone["tag"] == "old" and gone["frees"] < 4096 and "about nothing" in gone["note"]
    assert "used by kept tags" in gone["note"]
    twin_report = next(o for o in json_lines(twin.stdout) if o["type"] == "prune")
    assert twin_report["freed_bytes"] < 0.05 * LAYER_BYTES  # the shared layer stays
    assert pulls_identically(client, twin_new)

    again = regwiz("registry", "prune", "--profile", str(profile), "--keep", "2", "--yes", "--json", env=cli_env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr
    objects = json_lines(again.stdout)
    assert next(o for o in objects if o["type"] == "prune-plan")["tags"] == 0
    assert next(o for o in objects if o["type"] == "step")["outcome"] == "nothing to do"
    assert not any(o["type"] == "prune-tag" for o in objects)
    for output in (listed, planned, pruned, twin, again):
        assert cli_env["REGISTRY_CI_PASSWORD"] not in output.stdout + output.stderr


def served_serial(server: TestHost) -> int:
    from cryptography import x509

    context = ssl.create_default_context(cadata=pki.load_or_create_ca().cert_pem.decode())
    with socket.create_connection((server.address, 5000), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server.address) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def docker_pull_on(server: TestHost, image: str, password: str) -> None:
    """A real Docker client (the host's own dockerd) that trusts regwiz's CA logs in and pulls."""
    address = f"{server.address}:5000"
    server.exec("mkdir", "-p", f"/etc/docker/certs.d/{address}")
    server.exec("sh", "-c", 'cat > "$1"', "sh", f"/etc/docker/certs.d/{address}/ca.crt",
                input=pki.load_or_create_ca().cert_pem.decode())
    server.exec("docker", "login", "-u", "ci", "--password-stdin", address, input=password)
    server.exec("docker", "rmi", "-f", f"{address}/{image}", check=False)
    pulled = server.exec("docker", "pull", f"{address}/{image}", check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr


async def test_users_change_without_a_restart_then_cert_renew(fresh_host, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                                            regwiz_home: Path) -> None:
    server: TestHost = fresh_host("ecs")
    profile = deploy_from_profile(server, regwiz_home, cli_env)
    started = started_at(server)
    first, second = "bob-" + secrets.token_urlsafe(9), "bob-" + secrets.token_urlsafe(9)
    cli_env |= {"BOB_PASSWORD": first, "BOB_NEW_PASSWORD": second}

    added = regwiz("registry", "users", "--profile", str(profile), "add", "bob", "--password-env", "BOB_PASSWORD",
                   "--json", env=cli_env)
    assert added.returncode == 0, added.stdout[-2000:] + added.stderr
    client_for(server, "bob", first).login()
    saved = profile.read_text()
    assert 'name = "bob"' in saved and 'password_env = "BOB_PASSWORD"' in saved and first not in saved
    assert saved.startswith("# day-two operations")  # the user's comments kept

    again = regwiz("registry", "users", "--profile", str(profile), "add", "bob", "--password-env", "BOB_PASSWORD",
                   env=cli_env)
    assert again.returncode == 1 and "exists already" in again.stderr + again.stdout

    rotated = regwiz("registry", "users", "rotate", "bob", "--password-env", "BOB_NEW_PASSWORD", "--profile",
                     str(profile), "--json", env=cli_env)
    assert rotated.returncode == 0, rotated.stdout[-2000:] + rotated.stderr
    try:
        client_for(server, "bob", first).login()  # at once: no wait, no restart
        raise AssertionError("the old password still works")
    except RegistryAuthError:
        pass
    client_for(server, "bob", second).login()
    assert 'password_env = "BOB_NEW_PASSWORD"' in profile.read_text()

    removed = regwiz("registry", "users", "--profile", str(profile), "remove", "bob", "--json", env=cli_env)
    assert removed.returncode == 0, removed.stdout[-2000:] + removed.stderr
    try:
        client_for(server, "bob", second).login()
        raise AssertionError("a removed user still logs in")
    except RegistryAuthError:
        pass
    assert "bob" not in profile.read_text()
    client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"]).login()
    assert started_at(server) == started  # not restarted by any of it
    last = regwiz("registry", "users", "--profile", str(profile), "remove", "ci", env=cli_env)
    assert last.returncode == 1 and "only user" in last.stderr + last.stdout

    # cert renew: a new serial, served; a client that trusts the CA pulls before and after with no change.
    client = client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"])
    hello = generate_test_image("ops-renew")
    for blob in (hello.layer, hello.config):
        client.push_blob("ops/hello", blob)
    client.put_manifest("ops/hello", "v1", hello.manifest, SCHEMA2)
    docker_pull_on(server, "ops/hello:v1", cli_env["REGISTRY_CI_PASSWORD"])
    old_serial = served_serial(server)
    shown = regwiz("cert", "renew", "--profile", str(profile), "--json", env=cli_env)
    assert shown.returncode == 0 and served_serial(server) == old_serial  # without --yes: the plan only
    renewed = regwiz("cert", "renew", "--profile", str(profile), "--yes", "--json", env=cli_env)
    assert renewed.returncode == 0, renewed.stdout[-3000:] + renewed.stderr
    objects = json_lines(renewed.stdout)
    record = next(o for o in objects if o["type"] == "certificate")
    new_serial = served_serial(server)
    assert new_serial != old_serial and record["served_serial"] == record["new_serial"] == f"{new_serial:X}"
    assert f"IP:{server.address}" in record["sans"]
    assert [p["status"] for p in objects if p["type"] == "proof"] and all(
        p["status"] == "ok" for p in objects if p["type"] == "proof")
    docker_pull_on(server, "ops/hello:v1", cli_env["REGISTRY_CI_PASSWORD"])
    assert client.head_manifest("ops/hello", "v1") is not None
    redeploy = regwiz("deploy", "--profile", str(profile), "--json", env=cli_env)  # the label matches: no recreate
    assert redeploy.returncode == 0, redeploy.stdout[-2000:] + redeploy.stderr
    steps = [o for o in json_lines(redeploy.stdout) if o["type"] == "step"]
    assert steps[-1]["outcome"] == "nothing to do", steps
    for output in (added, rotated, removed, renewed):
        for secret in (first, second, cli_env["REGISTRY_CI_PASSWORD"]):
            assert secret not in output.stdout + output.stderr
    assert not any(first in p.read_text(errors="replace") or second in p.read_text(errors="replace")
                   for p in regwiz_home.rglob("*") if p.is_file())
    assert first not in server.exec("sh", "-c", "cat /etc/regwiz/registry/config.yml; env").stdout
