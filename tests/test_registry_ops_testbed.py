"""The registry after day one, on real hosts: ls, prune (with a pull looping meanwhile), users, cert renew.

Each test deploys a registry with ``regwiz deploy`` from a profile, pushes images built here with
regwiz's own registry client, then runs the real ``regwiz registry ...`` / ``regwiz cert ...`` commands.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app import pki
from app.registry.client import (CONFIG_MEDIA, LAYER_MEDIA, SCHEMA2, RegistryAuthError, RegistryClient,
                                 RegistryEndpoint, RegistryError)
from app.registry.testimage import generate_test_image
from tests.cli_helpers import ROOT, json_lines, registry_profile, regwiz
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


def digest_of_config(image: Pushed) -> str:
    return json.loads(image.manifest)["config"]["digest"]


def pulls_identically(client: RegistryClient, image: Pushed) -> bool:
    body, digest = client.get_manifest(image.repository, image.tag)
    return body == image.manifest and digest == image.digest and all(
        client.get_blob(image.repository, d) == data for d, data in image.blobs.items())


def storage_mode(server: TestHost) -> str:
    """"ro" or "rw": the registry's storage mount as its own mount namespace has it."""
    return server.sh("awk '$5 == \"/var/lib/registry\" { split($6, o, \",\"); print o[1] }' "
                     "/proc/$(docker inspect -f '{{.State.Pid}}' registry)/mountinfo").stdout.strip()


def du(host: TestHost) -> int:
    return int(host.exec("du", "-sb", STORAGE).stdout.split()[0])


def started_at(host: TestHost) -> str:
    return host.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "registry").stdout.strip()


def deploy_from_profile(server: TestHost, home: Path, env: dict[str, str]) -> Path:
    """``regwiz deploy --yes`` from a profile, as a user would; the profile's path."""
    home.mkdir(parents=True, exist_ok=True)
    profile = registry_profile(home, server, env, name="ops.toml", comment="day-two operations")
    deployed = regwiz("deploy", "--profile", str(profile), "--yes", "--json", env=env)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
    return profile


def client_for(server: TestHost, user: str, password: str, timeout: float = 10) -> RegistryClient:
    return RegistryClient(RegistryEndpoint(server.address, 5000, True, pki.load_or_create_ca().cert_pem, user,
                                           password, timeout=timeout))


@dataclass
class Attempt:
    start: float  # time.time(): the testbed's hosts share this machine's clock
    end: float
    error: str | None  # None: it worked


class PullLoop(threading.Thread):
    """Pulls a kept tag over and over (manifest and every blob, compared byte for byte) until stopped.

    No retry: each attempt is one real pull, and any error (a refused connection, an HTTP error, other
    bytes) is a failure.
    """

    def __init__(self, client: RegistryClient, image: Pushed) -> None:
        super().__init__(daemon=True)
        self.client, self.image = client, image
        self.stop = threading.Event()
        self.attempts: list[Attempt] = []

    def run(self) -> None:
        while not self.stop.is_set():
            start, error = time.time(), None
            try:
                if not pulls_identically(self.client, self.image):
                    error = "other bytes than pushed"
            except RegistryError as exc:
                error = f"{exc.status}: {exc}"
            self.attempts.append(Attempt(start, time.time(), error))

    @property
    def failures(self) -> list[str]:
        return [a.error for a in self.attempts if a.error]


class PushLoop(PullLoop):
    """Pushes a small new image again and again; each push that worked is remembered, to pull back."""

    def __init__(self, client: RegistryClient) -> None:
        super().__init__(client, None)  # type: ignore[arg-type]
        self.pushed: list[tuple[Attempt, Pushed]] = []

    def run(self) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            start = time.time()
            try:
                image = push_image(self.client, "ops/during", f"p{number}", [secrets.token_bytes(2048)])
            except RegistryError as exc:
                self.attempts.append(Attempt(start, time.time(), f"{exc.status}: {exc}"))
                time.sleep(0.05)
                continue
            attempt = Attempt(start, time.time(), None)
            self.attempts.append(attempt)
            self.pushed.append((attempt, image))
            time.sleep(0.05)


def read_only_window(output: str) -> tuple[float, float]:
    """When the storage went read-only and writable again, from the host's own lines in the output."""
    import re

    def at(marker: str) -> float:
        found = re.search(r"(\d\d):(\d\d):(\d\d\.\d+) " + marker, output)
        assert found, f"no line with {marker!r} in the prune's output"
        hours, minutes, seconds = found.groups()
        day = time.time() // 86400 * 86400  # today, UTC (a run across midnight would fail loudly)
        return day + int(hours) * 3600 + int(minutes) * 60 + float(seconds)

    return at("storage read-only inside"), at("making the storage writable")


async def test_ls_then_prune_keep_2_gives_the_space_back(fresh_host, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                                         regwiz_home: Path) -> None:
    server: TestHost = fresh_host("ecs")
    profile = deploy_from_profile(server, regwiz_home, cli_env)
    client = client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"], 60)  # 60 s: the machine may be loaded
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
    # A slow answer on a loaded machine is not what is tested (a refused or failed one is): 60 s timeouts.
    pullers = [PullLoop(client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"], 60), images[4 + n])
               for n in range(2)]
    pusher = PushLoop(client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"], 60))
    for thread in (*pullers, pusher):
        thread.start()
    time.sleep(0.5)
    command_started = time.time()
    try:
        pruned = regwiz("registry", "prune", "--profile", str(profile), "--keep", "2", "--repo", "ops/app", "--yes",
                        "--json", env=cli_env)
    finally:
        command_ended = time.time()
        time.sleep(0.5)
        for thread in (*pullers, pusher):
            thread.stop.set()
        for thread in (*pullers, pusher):
            thread.join(30)
    assert pruned.returncode == 0, pruned.stdout[-3000:] + pruned.stderr
    after = du(server)
    report = next(o for o in json_lines(pruned.stdout) if o["type"] == "prune")
    assert sorted(d["tag"] for d in report["deleted"]) == ["v0", "v1", "v2", "v3"]
    measured = before - after
    logs = Path(next(o for o in json_lines(pruned.stdout) if o["type"] == "report")["logs"])
    read_only, writable = read_only_window("".join(f.read_text() for f in logs.glob("prune-*.log")))
    attempts = sorted((a for loop in pullers for a in loop.attempts), key=lambda a: a.start)
    failures = [a.error for a in attempts if a.error]
    overlapping = [a for a in attempts if a.start < writable and a.end > read_only]
    # The longest moment of the read-only window during which no pull was in flight.
    gap, covered = 0.0, read_only
    for attempt in overlapping:
        gap, covered = max(gap, attempt.start - covered), max(covered, attempt.end)
    gap = max(gap, writable - covered)
    pushes_during = [a for a in pusher.attempts if a.start < writable and a.end > read_only]
    print(f"pushed {pushed_bytes} bytes; the four deleted held {unique}; du {before} -> {after} "
          f"(freed {measured}); regwiz says freed {report['freed_bytes']} (planned {report['planned_bytes']}); "
          f"prune command {command_ended - command_started:.2f} s, read-only {writable - read_only:.2f} s "
          f"(collection {report['collect_seconds']:.2f} s as regwiz timed it); pull attempts {len(attempts)} "
          f"in 2 threads, the slowest {max(a.end - a.start for a in attempts):.2f} s ({len(overlapping)} during the read-only window), failures {len(failures)}, longest "
          f"moment with no pull in flight {gap:.3f} s; push attempts {len(pusher.attempts)} ({len(pushes_during)} within the "
          f"window, {sum(1 for a in pushes_during if a.error)} refused), pushes that worked {len(pusher.pushed)}")
    assert measured >= 0.9 * unique
    assert abs(report["freed_bytes"] - measured) <= 0.1 * measured
    assert failures == [], [(a.start - read_only, a.end - read_only, a.error) for a in attempts if a.error]
    # Pulls ran all through the prune: before it, after it, and at every moment of the read-only window.
    assert attempts[0].start < command_started and max(a.end for a in attempts) > command_ended
    assert command_started < read_only < writable < command_ended
    assert len(overlapping) >= 2 and gap < 0.1
    # Pushes meanwhile: refused only while read-only (by a 500: the write failed), accepted before and after,
    # and every push that was answered as done pulls back byte for byte (none lost to the collection).
    refused = [a for a in pusher.attempts if a.error]
    assert refused and all(a in pushes_during and str(a.error).startswith("500") for a in refused), refused
    assert all(a.error for a in pushes_during if read_only <= a.start and a.end <= writable)
    assert any(a.start > writable for a, _ in pusher.pushed)
    for _, image in pusher.pushed:
        assert pulls_identically(client, image), f"{image.tag}, pushed around the prune, does not pull back"
    assert started_at(server) == started  # never restarted: the storage went read-only and back in place
    assert "cache" not in server.exec("cat", "/etc/regwiz/registry/config.yml").stdout
    assert server.exec("docker", "ps", "-aq", "--filter", "name=regwiz-gc").stdout.strip() == ""
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

    again = regwiz("registry", "prune", "--profile", str(profile), "--keep", "2", "--repo", "ops/app", "--yes", "--json",
                   env=cli_env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr
    objects = json_lines(again.stdout)
    assert next(o for o in objects if o["type"] == "prune-plan")["tags"] == 0
    assert next(o for o in objects if o["type"] == "step")["outcome"] == "nothing to do"
    assert not any(o["type"] == "prune-tag" for o in objects)
    # A swept image pushed again, byte for byte: the registry must not claim its blobs still exist (a blob
    # descriptor cache that outlived the collection would: the push skips them, the pull then fails).
    again_v0 = push_image(client, "ops/app", "v0", [images[0].blobs[d] for d in images[0].blobs
                                                     if d != digest_of_config(images[0])])
    assert again_v0.digest == images[0].digest and pulls_identically(client, again_v0)

    # regwiz killed while the storage is read-only (its SSH connection gone with it): the host-side script
    # goes on, collects, and makes the storage writable again by itself; the registry is not restarted.
    doomed = [push_image(client, "ops/kill", f"k{n}", [secrets.token_bytes(64 * 1024)]) for n in range(2)]
    started = started_at(server)
    run = subprocess.Popen([sys.executable, "-m", "app", "registry", "prune", "--profile", str(profile), "--keep", "1",
                            "--repo", "ops/kill", "--yes", "--json"], cwd=ROOT, env=cli_env, text=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while storage_mode(server) != "ro":
            assert run.poll() is None and time.monotonic() < deadline, "the storage never went read-only"
            time.sleep(0.02)
    finally:
        run.kill()
        run.wait(30)
    killed_at = time.monotonic()
    while storage_mode(server) != "rw" or server.exec("docker", "ps", "-aq", "--filter",
                                                      "name=regwiz-gc").stdout.strip():
        assert time.monotonic() - killed_at < 120, "the storage stayed read-only after regwiz was killed"
        time.sleep(0.2)
    print(f"regwiz killed while read-only: writable again {time.monotonic() - killed_at:.2f} s later, by the host")
    assert started_at(server) == started
    assert client.head_manifest("ops/kill", doomed[0].digest) is None and pulls_identically(client, doomed[1])
    assert pulls_identically(client, push_image(client, "ops/kill", "k2", [secrets.token_bytes(1024)]))

    # A config.yml from an earlier regwiz, with the in-memory blob descriptor cache: the plan says so, the
    # registry is restarted once after the collection, and a swept image pushed again pulls back whole.
    server.sh("sed -i 's/^  delete:$/  cache:\\n    blobdescriptor: \"inmemory\"\\n  delete:/' "
              "/etc/regwiz/registry/config.yml && docker restart registry >/dev/null")
    assert "blobdescriptor" in server.exec("cat", "/etc/regwiz/registry/config.yml").stdout
    for _ in range(300):
        try:
            client.login()
            break
        except RegistryError:
            time.sleep(0.1)
    cached = [push_image(client, "ops/cached", f"c{n}", [secrets.token_bytes(64 * 1024)]) for n in range(2)]
    assert pulls_identically(client, cached[0])  # the cache now holds its blobs' descriptors
    restarted = regwiz("registry", "prune", "--profile", str(profile), "--keep", "1", "--repo", "ops/cached",
                       "--yes", "--json", env=cli_env)
    assert restarted.returncode == 0, restarted.stdout[-3000:] + restarted.stderr
    cached_report = next(o for o in json_lines(restarted.stdout) if o["type"] == "prune")
    assert cached_report["restarted"] is True and [d["tag"] for d in cached_report["deleted"]] == ["c0"]
    assert started_at(server) != started
    layers = [b for d, b in cached[0].blobs.items() if d != digest_of_config(cached[0])]
    again_c0 = push_image(client, "ops/cached", "c0", layers)
    assert again_c0.digest == cached[0].digest and pulls_identically(client, again_c0)
    assert pulls_identically(client, cached[1])

    for output in (listed, planned, pruned, twin, again, restarted):
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
    client = client_for(server, "ci", cli_env["REGISTRY_CI_PASSWORD"], 60)  # 60 s: the machine may be loaded
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
