"""The deploy step on real hosts: TLS and auth by default, proven by clients we did not write."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from app import pki
from app.events import EventBus
from app.registry import config as regconfig
from app.registry.client import RegistryClient, RegistryError
from app.registry.testimage import generate_test_image
from app.registry.image import ImageSource
from app.registry.prove import endpoint_for, prove, summary_lines
from app.redact import Secret
from app.steps import Outcome
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost


from tests.registry_helpers import choices_for, deploy  # noqa: E402


def start_docker(host: TestHost) -> None:
    host.exec("systemctl", "start", "docker")


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=180)


async def test_deploy_tls_auth_proven_by_skopeo_and_docker(fresh_host, testbed: Testbed, linux_client: TestHost,
                                                           registry_image: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs")
    start_docker(host)
    choices = choices_for(host, testbed)
    user, password = "ci", choices.users["ci"].reveal()
    address = choices.address
    async with root_by_password(host, tmp_path) as t:
        # The port taken by something else: refused, with its holder named.
        host.exec("sh", "-c", "nohup nc -l -p 5000 >/dev/null 2>&1 &")
        refused, _, _, _ = await deploy(t, choices)
        assert refused.outcome is Outcome.REFUSED and "port 5000 is taken by nc" in refused.message
        host.exec("pkill", "-x", "nc")

        result, plans, sink, progress = await deploy(t, choices)
        assert result.outcome is Outcome.APPLIED, result.message
        assert any("uploading the image from this machine" in line for line in sink.lines())
        assert progress and progress[-1][0] > 10_000_000  # the image was streamed, with progress
        # Loaded, named as the container uses it, the upload's own name dropped: in one command.
        names = host.exec("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        assert "registry:2" in names and testbed.images.registry not in names, names
        assert sum("docker load" in line for line in sink.lines()) == 1, [s for s in sink.lines() if "docker" in s]
        assert any(a.startswith("create the container") for a in plans[0].actions)
        assert "(content not shown: it holds secrets)" in plans[0].diff()
        assert password not in "\n".join(sink.lines()) and password not in plans[0].diff()

        steps = await prove(choices, EventBus().scoped(source="prove"))
        assert [s.ok for s in steps] == [True] * len(steps), [(s.name, s.detail) for s in steps if not s.ok]
        assert {"TLS handshake", "log in", "compare digests", "delete"} <= {s.name for s in steps}

    # skopeo, a client we did not write, with only the CA and the credentials regwiz produced.
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(pki.load_or_create_ca().cert_pem)
    pushed = skopeo("copy", f"--dest-cert-dir={certs}", f"--dest-creds={user}:{password}",
                    f"docker-archive:{registry_image}", f"docker://{address}/tools/registry:1")
    assert pushed.returncode == 0, pushed.stderr
    out = tmp_path / "pulled"
    pulled = skopeo("copy", f"--src-cert-dir={certs}", f"--src-creds={user}:{password}",
                    f"docker://{address}/tools/registry:1", f"dir:{out}")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads((out / "manifest.json").read_text())["schemaVersion"] == 2
    anonymous = skopeo("inspect", f"--cert-dir={certs}", f"docker://{address}/tools/registry:1")
    assert anonymous.returncode != 0  # the default refuses anonymous pulls

    # The docker CLI on linux_client pushes and pulls once it trusts the CA.
    linux_client.exec("mkdir", "-p", f"/etc/docker/certs.d/{address}")
    linux_client.exec("sh", "-c", f"cat > /etc/docker/certs.d/{address}/ca.crt",
                      input=pki.load_or_create_ca().cert_pem.decode())
    linux_client.exec("docker", "login", address, "-u", user, "--password-stdin", input=password)
    linux_client.load_registry_image(registry_image)
    linux_client.exec("docker", "tag", "registry:2", f"{address}/lc/registry:1")
    linux_client.exec("docker", "push", f"{address}/lc/registry:1", timeout=180)
    linux_client.exec("docker", "rmi", f"{address}/lc/registry:1")
    linux_client.exec("docker", "pull", f"{address}/lc/registry:1", timeout=180)
    linux_client.exec("docker", "logout", address)

    async with root_by_password(host, tmp_path) as t:
        # Re-running with the same choices changes nothing.
        started_at = host.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "registry").stdout
        again, _, _, _ = await deploy(t, choices)
        assert again.outcome is Outcome.NOTHING_TO_DO, again.message

        # Adding a user changes only htpasswd, and needs no restart.
        choices.users["alice"] = Secret("alice-" + secrets.token_urlsafe(9))
        added, plans, _, _ = await deploy(t, choices)
        assert added.outcome is Outcome.APPLIED, added.message
        changed = [c.path for c in plans[0].changes if c.changes_anything]
        assert changed == ["/etc/regwiz/registry/auth/htpasswd"] and plans[0].actions == []
        assert host.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "registry").stdout == started_at
        alice = endpoint_for(choices)
        alice.username, alice.password = "alice", choices.users["alice"].reveal()
        RegistryClient(alice).login()

        # Changing the port recreates the container, keeping the data.
        choices.settings = regconfig.RegistrySettings(port=5001)
        moved, plans, _, _ = await deploy(t, choices)
        assert moved.outcome is Outcome.APPLIED, moved.message
        assert any("recreate" in a and "keeping the data" in a for a in plans[0].actions)
        assert [c.path for c in plans[0].changes if c.changes_anything] == []
        client = RegistryClient(endpoint_for(choices))
        assert "registry" in " ".join(client.catalog())
        assert client.tags("tools/registry") == ["1"]

    # Data survives a restart of the host's dockerd (restart=always brings it back).
    host.exec("systemctl", "restart", "docker")
    for _ in range(60):
        try:
            if RegistryClient(endpoint_for(choices)).tags("lc/registry") == ["1"]:
                break
        except RegistryError:
            pass
        import time
        time.sleep(0.5)
    assert RegistryClient(endpoint_for(choices)).tags("lc/registry") == ["1"]


async def test_insecure_choice_reproduces_the_client_error(fresh_host, testbed: Testbed, linux_client: TestHost,
                                                           registry_image: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs")
    start_docker(host)
    choices = choices_for(host, testbed, tls="none", auth="none")
    choices.users = {}
    async with root_by_password(host, tmp_path) as t:
        result, _, _, _ = await deploy(t, choices)
        assert result.outcome is Outcome.APPLIED, result.message
        steps = await prove(choices, EventBus().scoped(source="prove"))
        assert all(s.ok for s in steps)
    summary = "\n".join(summary_lines(choices))
    assert "http: server gave HTTP response to HTTPS client" in summary
    assert f"--insecure-registry {choices.address}" in summary
    linux_client.load_registry_image(registry_image)
    linux_client.exec("docker", "tag", "registry:2", f"{choices.address}/x/registry:1")
    pushed = linux_client.exec("docker", "push", f"{choices.address}/x/registry:1", check=False, timeout=120)
    assert pushed.returncode != 0
    assert "http: server gave HTTP response to HTTPS client" in pushed.stderr + pushed.stdout


async def test_pull_through_cache_serves_pulls_and_refuses_pushes(fresh_host, testbed: Testbed,
                                                                  registry_image: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A second local registry stands in for Docker Hub.
    upstream_host: TestHost = fresh_host("linux_client")
    upstream_host.load_registry_image(registry_image)
    upstream_host.exec("docker", "run", "-d", "--name", "hub", "-p", "5000:5000", "registry:2")
    from app.registry.client import RegistryEndpoint

    hub = RegistryClient(RegistryEndpoint(host=upstream_host.address, tls=False))
    for _ in range(40):
        try:
            hub.ping(with_auth=False)
            break
        except RegistryError:
            import time
            time.sleep(0.25)
    image = generate_test_image("upstream")
    hub.push_blob("library/hello", image.layer)
    hub.push_blob("library/hello", image.config)
    hub.put_manifest("library/hello", "latest", image.manifest,
                     "application/vnd.docker.distribution.manifest.v2+json")

    host: TestHost = fresh_host("ecs")
    start_docker(host)
    choices = choices_for(host, testbed, mode="cache", proxy_remote_url=f"http://{upstream_host.address}:5000")
    async with root_by_password(host, tmp_path) as t:
        result, _, _, _ = await deploy(t, choices)
        assert result.outcome is Outcome.APPLIED, result.message
        steps = await prove(choices, EventBus().scoped(source="prove"))
        assert all(s.ok for s in steps) and "push layer" not in {s.name for s in steps}
    cache = RegistryClient(endpoint_for(choices))
    body, digest = cache.get_manifest("library/hello", "latest")
    assert digest == image.manifest_digest
    assert cache.get_blob("library/hello", image.layer_digest) == image.layer
    with pytest.raises(RegistryError, match="refuses pushes"):
        cache.push_blob("mine/app", b"a layer of my own")
    assert "refuses pushes" in "\n".join(summary_lines(choices))


async def test_container_that_exits_is_reported_and_rolled_back(fresh_host, testbed: Testbed,
                                                                tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs")
    start_docker(host)
    good = choices_for(host, testbed)
    async with root_by_password(host, tmp_path) as t:
        first, _, _, _ = await deploy(t, good)
        assert first.outcome is Outcome.APPLIED, first.message
        # An image whose registry exits at once: the deploy must say so and keep the old one.
        host.exec("sh", "-c", "docker create --name mk registry:2 >/dev/null && docker commit --change "
                  "'ENTRYPOINT [\"/bin/registry\", \"serve\", \"/nonexistent.yml\"]' mk broken-registry:1 "
                  ">/dev/null && docker rm mk >/dev/null")
        bad = choices_for(host, testbed)
        bad.users = good.users
        bad.image = ImageSource(kind="pull", image="broken-registry:1")
        result, _, sink, _ = await deploy(t, bad)
        assert result.outcome is Outcome.ROLLED_BACK, result.message
        assert "does not stay up" in result.message and "nonexistent.yml" in result.message
    assert host.exec("docker", "inspect", "-f", "{{.Config.Image}} {{.State.Running}}", "registry").stdout.split() \
        == ["registry:2", "true"]
    steps = await prove(good, EventBus().scoped(source="prove"))
    assert all(s.ok for s in steps)


async def test_mirror_choice_sets_registry_mirrors_and_reloads(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The mirror path: daemon.json gains the mirror (other keys kept) and dockerd reloads it
    without a restart. No pull is made: a failing mirror would fall back to Docker Hub."""
    from app.registry.image import set_mirror

    host: TestHost = fresh_host("linux_client")
    pid_before = host.exec("pidof", "dockerd").stdout.strip()
    async with root_by_password(host, tmp_path) as t:
        await set_mirror(t, "https://mirror.example.test", EventBus().scoped(source="deploy"))
        await set_mirror(t, "https://mirror.example.test", None)  # twice: no duplicate
    config = json.loads(host.exec("cat", "/etc/docker/daemon.json").stdout)
    assert config["registry-mirrors"] == ["https://mirror.example.test"]
    assert config["labels"] == ["io.regwiz.flavour=linux_client"]
    for _ in range(40):
        if "mirror.example.test" in host.exec("docker", "info", "--format", "{{json .RegistryConfig.Mirrors}}").stdout:
            break
        import time
        time.sleep(0.25)
    assert "mirror.example.test" in host.exec("docker", "info", "--format", "{{json .RegistryConfig.Mirrors}}").stdout
    assert host.exec("pidof", "dockerd").stdout.strip() == pid_before
