"""Planning with no host: a host's files and command answers in, a typed plan out (pyinfra's shape).

Each step kind plans from recorded answers; the plan holds every decision apply needs, planning
changes none of its inputs, and the plan file keeps the plans exactly (no secret), refusing
malformed files with a message that names what is wrong.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app import netmodel, planfile
from app.clients.docker_trust import DaemonAction, DockerTrustDecision, DockerTrustStep
from app.clients.model import ClientKind, RegistryTarget
from app.clients.runtimes import (CONTAINERD_CONFIG, ContainerdTrustStep, DockerStoreHostsStep, FilesDecision,
                                  PodmanTrustStep)
from app.diagnose.docker_fixes import EnableDockerDecision, EnableDockerFix, InstallDockerDecision, InstallDockerFix
from app.diagnose.network_facts import NetworkFacts
from app.diagnose.network_fixes import DaemonNetworkDecision, DaemonNetworkFix, RouteDeleteDecision, RouteDeleteFix
from app.dockerd import DockerService
from app.events import EventBus
from app.plan_commands import DECISIONS, kind_of
from app.redact import Secret
from app.registry.client import SCHEMA2, RegistryClient
from app.registry.deploy import DeployChoices, DeployDecision, DeployRegistryStep
from app.registry.ops import (CERT_PATH, KEY_PATH, DeleteTagsStep, PruneDecision, PrunePlan, PruneStep,
                              RenewCertificateStep, RenewDecision, UsersDecision, UsersStep, serial_of)
from app.remote_files import FileChange, sha256_text
from app.steps import Plan, Step, StepContext
from tests.recorded import RecordedTransport

PLAIN = RegistryTarget("10.0.0.5", 5000, tls=False, ca_pem=None)
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
TLS = RegistryTarget("10.0.0.5", 5000, tls=True, ca_pem=CA)


class RecordedHost(RecordedTransport):
    """A host made of recorded facts: its files, and what each command printed (first match wins)."""

    def __init__(self, files: dict[str, str], answers: list[tuple[str, int, str]]) -> None:
        super().__init__(files)
        self.answers = answers

    async def answer(self, command_line: str) -> tuple[int, list[str], list[str]]:
        if "docker version" in command_line and "systemctl is-enabled" in command_line:
            # DockerService.running_and_enabled: both answers in one command (status, version, enabled)
            version = next(((st, out) for needle, st, out in self.answers if needle == "docker version"), (1, ""))
            enabled = next((out for needle, _st, out in self.answers if needle == "systemctl is-enabled"), "")
            return 0, [str(version[0]), version[1], enabled], []
        for needle, status, out in self.answers:
            if needle in command_line:
                return status, out.splitlines(), []
        return 1, [], []


SYSTEMD = ("/run/systemd/system", 0, "systemd")


async def _plan(step: Step, host: RecordedHost) -> tuple[Plan, StepContext]:
    ctx = StepContext(host, EventBus().scoped(source="t"))
    return await step.plan(ctx), ctx


def _no_writes(host: RecordedHost) -> None:
    """Planning read, never wrote: no upload, rm, mv, cp, kill, restart or lock."""
    for line in host.commands:
        for verb in ("rm -f", "mv -f", "cp -a", "kill -HUP", " restart", "mkdir", "regwiz.lock", "tee "):
            assert verb not in line, f"planning ran {line!r}"


async def test_docker_trust_sysv_insecure_plans_a_restart_and_a_flag() -> None:
    host = RecordedHost({"/etc/default/docker": 'DOCKER_OPTS="--label=x"\n'},
                        [("-x /etc/init.d/docker", 0, "sysv"), ("docker version", 0, "20.10.24")])
    plan, _ = await _plan(DockerTrustStep(ClientKind.SYSV, PLAIN), host)
    assert plan.decision == DockerTrustDecision(DaemonAction.RESTART, DockerService("sysv"))
    [change] = [c for c in plan.changes if c.changes_anything]
    assert change.path == "/etc/default/docker" and "--insecure-registry 10.0.0.5:5000" in (change.new or "")
    assert change.before_sha256 == sha256_text('DOCKER_OPTS="--label=x"\n')
    assert plan.actions == ["restart dockerd (flags are read only at start)"]
    # The files and how the host runs dockerd: one command.
    [read] = [line for line in host.commands if "/etc/docker/daemon.json" in line]
    assert "/etc/default/docker" in read and "-x /etc/init.d/docker" in read
    assert sum("-x /etc/init.d/docker" in line for line in host.commands) == 1
    _no_writes(host)


async def test_docker_trust_tls_only_needs_nothing_of_dockerd() -> None:
    host = RecordedHost({}, [SYSTEMD])
    plan, _ = await _plan(DockerTrustStep(ClientKind.LINUX, TLS), host)
    assert plan.decision.action is DaemonAction.NOTHING and plan.actions == []
    [change] = plan.changes
    assert change.path == "/etc/docker/certs.d/10.0.0.5:5000/ca.crt" and change.old is None
    assert change.before_sha256 is None  # absent when planned: apply refuses if it appears meanwhile


async def test_docker_desktop_plan_says_user_files_and_leaves_the_context_alone() -> None:
    host = RecordedHost({"/home/me/.docker/daemon.json": "{}\n"},
                        [('printf %s "$HOME"', 0, "/home/me"), ("docker version", 0, "28.5.2")])
    plan, ctx = await _plan(DockerTrustStep(ClientKind.DESKTOP, PLAIN), host)
    assert plan.files_sudo is False and ctx.files.sudo is True  # planning flips nothing of its inputs
    assert plan.decision.action is DaemonAction.DESKTOP
    assert json.loads(plan.changes[0].new or "")["insecure-registries"] == ["10.0.0.5:5000"]


async def test_docker_trust_refuses_invalid_daemon_json() -> None:
    host = RecordedHost({"/etc/docker/daemon.json": "{not json"}, [SYSTEMD])
    plan, _ = await _plan(DockerTrustStep(ClientKind.LINUX, PLAIN), host)
    assert plan.refused and "not valid JSON" in plan.refused


async def test_containerd_plan_holds_its_version_and_hosts_dir() -> None:
    config = '# kept\nversion = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/k3s/certs.d"\n'
    host = RecordedHost({CONTAINERD_CONFIG: config},
                        [("containerd --version", 0, "containerd github.com/containerd/containerd v1.7.24 abc"),
                         ("is-active", 0, ""), SYSTEMD])
    plan, _ = await _plan(ContainerdTrustStep(PLAIN), host)
    assert plan.decision == FilesDecision(service="containerd", restart=False, major=1, certs_dir="/etc/k3s/certs.d")
    assert [c.path for c in plan.changes if c.changes_anything] == ["/etc/k3s/certs.d/10.0.0.5:5000/hosts.toml"]
    assert plan.actions == []  # hosts.toml is read per pull: config.toml already points there


async def test_containerd_new_config_restarts_an_active_daemon() -> None:
    host = RecordedHost({}, [("containerd --version", 0, "containerd containerd.io 2.1.9 abc"),
                             ("is-active", 0, ""), SYSTEMD])
    plan, _ = await _plan(ContainerdTrustStep(TLS), host)
    assert plan.decision.restart and plan.decision.major == 2 and plan.actions == ["restart containerd"]
    assert {c.path for c in plan.changes} == {"/etc/containerd/certs.d/10.0.0.5:5000/hosts.toml",
                                             "/etc/containerd/certs.d/10.0.0.5:5000/ca.crt", CONTAINERD_CONFIG}


async def test_podman_plan_restarts_crio_only_when_it_runs() -> None:
    idle = RecordedHost({}, [])
    plan, _ = await _plan(PodmanTrustStep(PLAIN), idle)
    assert plan.decision == FilesDecision() and plan.actions == []
    crio = RecordedHost({}, [("systemctl is-active crio", 0, "active"), ("is-active", 0, ""), SYSTEMD])
    plan, _ = await _plan(PodmanTrustStep(PLAIN), crio)
    assert plan.decision.service == "crio" and plan.decision.restart and plan.actions == ["restart crio"]


async def test_docker_store_hosts_only_for_the_containerd_store_and_insecure() -> None:
    store = RecordedHost({}, [("docker info", 0, '28.5.2\n[["driver-type","io.containerd.snapshotter.v1"]]')])
    plan, _ = await _plan(DockerStoreHostsStep(PLAIN), store)
    assert [c.path for c in plan.changes] == ["/etc/docker/certs.d/10.0.0.5:5000/hosts.toml"]
    graph = RecordedHost({}, [("docker info", 0, '20.10.24\n[["Backing Filesystem","extfs"]]')])
    plan, _ = await _plan(DockerStoreHostsStep(PLAIN), graph)
    assert plan.empty


def _facts(routes: list[str], daemon_json: str | None = None) -> NetworkFacts:
    net = netmodel.HostNetwork(routes=tuple(netmodel.parse_ip_routes("".join(f"{r} dev eth0 scope link\n"
                                                                             for r in routes))),
                               addresses=(), nameservers=(), docker_networks=(), docker0=None)
    options = netmodel.parse_daemon_options(daemon_json, "")
    return NetworkFacts(net, net, options, daemon_json, "", "systemd unit", "Docker version 20.10.24")


async def test_daemon_network_fix_plans_free_ranges_from_recorded_routes() -> None:
    facts = _facts(["172.16.0.0/12", "192.168.0.0/16"], '{"log-level": "warn"}')
    host = RecordedHost({"/etc/docker/daemon.json": '{"log-level": "warn"}'},
                        [SYSTEMD, ("systemctl is-enabled", 0, "enabled"), ("docker version", 0, "20.10.24")])
    plan, _ = await _plan(DaemonNetworkFix(facts), host)
    decision = plan.decision
    assert isinstance(decision, DaemonNetworkDecision) and decision.service == DockerService("systemd")
    assert decision.was_running and decision.was_enabled is True and not decision.clear_kv
    written = json.loads(plan.changes[0].new or "")
    assert written["log-level"] == "warn" and written["bip"] == str(decision.address_plan.bip)
    assert not decision.address_plan.bip.network.overlaps(ipaddress.IPv4Network("172.16.0.0/12"))
    assert plan.actions == ["restart docker"]
    # daemon.json and dockerd's state in one command (after the init's detection).
    [read] = [line for line in host.commands if "/etc/docker/daemon.json" in line]
    assert "docker version" in read and "systemctl is-enabled docker" in read
    assert len(host.commands) == 2, host.commands
    _no_writes(host)


async def test_route_delete_fix_holds_the_route_and_the_restart() -> None:
    [route] = netmodel.parse_ip_routes("172.16.0.0/12 dev eth0 scope link\n")
    host = RecordedHost({"/etc/network/interfaces": "auto eth0\n  up route add -net 172.16.0.0 netmask "
                         "255.240.0.0 dev eth0\n"},
                        [('printf %s "$SSH_CONNECTION"', 0, ""), ("command -v dockerd", 0, "/usr/bin/dockerd"),
                         SYSTEMD])
    plan, _ = await _plan(RouteDeleteFix(route, _facts(["172.16.0.0/12"])), host)
    assert plan.decision == RouteDeleteDecision(("172.16.0.0/12", "dev", "eth0"), DockerService("systemd"))
    assert plan.typed_confirmation == "172.16.0.0/12" and plan.changes[0].new == "auto eth0\n"


async def test_docker_fixes_plan_their_decisions() -> None:
    host = RecordedHost({}, [("systemctl is-enabled", 1, "disabled")])
    plan, _ = await _plan(EnableDockerFix(DockerService("systemd")), host)
    assert plan.decision == EnableDockerDecision(enable=True)
    assert plan.actions == ["enable docker.service at boot (systemctl enable docker)", "start the Docker daemon"]
    apt = RecordedHost({}, [("command -v apt-get", 0, "/usr/bin/apt-get")])
    plan, _ = await _plan(InstallDockerFix({}), apt)
    assert isinstance(plan.decision, InstallDockerDecision) and plan.decision.manager == "apt"


DEPLOY_HOST = [
    ("ip -j -4 addr", 0, json.dumps([{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.9",
                                                                        "prefixlen": 24, "scope": "global"}]}])),
    SYSTEMD, ("docker version", 0, "20.10.24"), ("docker inspect", 1, ""), ("ss -ltnpH", 0, ""),
]


async def test_deploy_plan_holds_the_names_and_leaves_the_choices_alone(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGWIZ_HOME", str(tmp_path))  # the CA this plan issues from: the test's own
    choices = DeployChoices(names=["registry.example"], users={"ci": Secret("a long password 1")})
    before = copy.deepcopy(choices.names)
    host = RecordedHost({}, DEPLOY_HOST)
    plan, _ = await _plan(DeployRegistryStep(choices), host)
    assert plan.refused is None, plan.refused
    assert choices.names == before  # planning appends nothing to its inputs
    decision = plan.decision
    assert isinstance(decision, DeployDecision)
    assert decision.names == ("registry.example", "10.0.0.9") and decision.recreate and not decision.had_container
    secret = {c.path for c in plan.changes if c.sensitive}
    assert secret == {"/etc/regwiz/registry/certs/server.key", "/etc/regwiz/registry/auth/htpasswd"}
    assert "create the container `registry` on port 5000" in plan.actions
    assert "get registry:2 onto the host (auto)" in plan.actions  # `docker image inspect` failed: not there
    # The addresses, dockerd, the container, the listeners, the image and the files: one command.
    [reads] = host.commands
    for needle in ("ip -j -4 addr", "docker version", "docker inspect", "ss -ltnpH", "docker image inspect",
                   "/etc/regwiz/registry/config.yml", "/etc/regwiz/registry/auth/htpasswd"):
        assert needle in reads
    _no_writes(host)


async def test_deploy_plan_refuses_from_the_one_read_as_it_did_from_separate_questions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGWIZ_HOME", str(tmp_path))
    choices = DeployChoices(names=["registry.example"], users={"ci": Secret("a long password 1")})
    stopped = RecordedHost({}, [("docker version", 1, "")] + DEPLOY_HOST)
    plan, _ = await _plan(DeployRegistryStep(choices), stopped)
    assert plan.refused == "Docker does not run on the host: run the diagnosis and apply its fixes first"
    taken = RecordedHost({}, [("ss -ltnpH", 0, 'LISTEN 0 1 0.0.0.0:5000 0.0.0.0:* users:(("nc",pid=7,fd=3))')]
                         + DEPLOY_HOST)
    plan, _ = await _plan(DeployRegistryStep(choices), taken)
    assert plan.refused == "port 5000 is taken by nc: stop it, or choose another port"
    present = RecordedHost({}, [("docker image inspect", 0, "sha256:0123")] + DEPLOY_HOST)
    plan, _ = await _plan(DeployRegistryStep(choices), present)
    assert plan.refused is None and not any("onto the host" in action for action in plan.actions)
    for host in (stopped, taken, present):
        _no_writes(host)


# -- the plan file -----------------------------------------------------------------------------------

async def _some_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> planfile.SavedPlans:
    monkeypatch.setenv("REGWIZ_HOME", str(tmp_path))
    client = RecordedHost({"/etc/default/docker": 'DOCKER_OPTS=""\n'},
                          [("-x /etc/init.d/docker", 0, "sysv"), ("docker version", 0, "20.10.24")])
    trust = DockerTrustStep(ClientKind.SYSV, PLAIN)
    trust_plan, _ = await _plan(trust, client)
    deploy = DeployRegistryStep(DeployChoices(names=["10.0.0.5"], users={"ci": Secret("a long password 1")}))
    deploy_plan, _ = await _plan(deploy, RecordedHost({}, DEPLOY_HOST))
    facts = _facts(["172.16.0.0/12", "192.168.0.0/16"])
    fix = DaemonNetworkFix(facts)
    fix_plan, _ = await _plan(fix, RecordedHost({}, [SYSTEMD, ("docker version", 0, "20.10.24")]))
    return planfile.SavedPlans("setup", "/tmp/profile.toml", [
        planfile.SavedHost("server", "10.0.0.5", None, [
            planfile.SavedStep(kind_of(fix), fix.title, fix_plan, "network"),
            planfile.SavedStep(kind_of(deploy), deploy.title, deploy_plan)]),
        planfile.SavedHost("client", "root@10.0.0.7", "sysv", [
            planfile.SavedStep(kind_of(trust), trust.title, trust_plan)]),
    ])


async def test_plan_file_round_trip_keeps_every_plan_and_no_secret(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    saved = await _some_plans(tmp_path, monkeypatch)
    text = planfile.render(saved)
    for change in saved.hosts[0].steps[1].plan.changes:
        if change.sensitive and change.new:
            assert change.new not in text  # neither the key nor the htpasswd line
    assert "BEGIN PRIVATE KEY" not in text and "$2y$" not in text
    back = planfile.parse(text, "plan.json", DECISIONS)
    assert [h.name for h in back.hosts] == ["10.0.0.5", "root@10.0.0.7"]
    for original, loaded in zip((s for h in saved.hosts for s in h.steps),
                                (s for h in back.hosts for s in h.steps), strict=True):
        assert loaded.step == original.step and loaded.plan.decision == original.plan.decision
        assert loaded.plan.actions == original.plan.actions and loaded.plan.summary == original.plan.summary
        for a, b in zip(original.plan.changes, loaded.plan.changes, strict=True):
            assert (a.path, a.mode, a.before_sha256, a.changes_anything) == (b.path, b.mode, b.before_sha256,
                                                                             b.changes_anything)
            if not a.sensitive:
                assert (a.old, a.new) == (b.old, b.new) and a.diff() == b.diff()
        if not any(c.sensitive for c in original.plan.changes):
            assert loaded.plan.same_as(original.plan)


def _malformed(text: str) -> str:
    with pytest.raises(planfile.PlanFileError) as caught:
        planfile.parse(text, "plan.json", DECISIONS)
    return str(caught.value)


async def test_malformed_plan_files_say_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.loads(planfile.render(await _some_plans(tmp_path, monkeypatch)))
    assert "not JSON" in _malformed("{")
    assert "not a regwiz plan file" in _malformed('{"format": "other"}')
    assert "version 7" in _malformed(json.dumps({**good, "version": 7}))
    bad = copy.deepcopy(good)
    del bad["hosts"][1]["steps"][0]["plan"]["summary"]
    assert "hosts[0].steps[0].plan: 'summary' is missing" in _malformed(json.dumps(bad)).replace("[1]", "[0]")
    bad = copy.deepcopy(good)
    bad["hosts"][1]["steps"][0]["plan"]["changes"][0]["new"] = "edited by hand\n"
    assert "digests do not match" in _malformed(json.dumps(bad))
    bad = copy.deepcopy(good)
    bad["hosts"][1]["steps"][0]["plan"]["decision"]["action"] = "explode"
    assert "decision.action: 'explode' is not one of" in _malformed(json.dumps(bad))
    bad = copy.deepcopy(good)
    bad["hosts"][1]["steps"][0]["step"] = "rm-rf"
    assert "unknown step 'rm-rf'" in _malformed(json.dumps(bad))
    bad = copy.deepcopy(good)
    key = next(c for c in bad["hosts"][0]["steps"][1]["plan"]["changes"] if c["sensitive"])
    key["new"] = "-----BEGIN PRIVATE KEY-----"
    assert "never in a plan file" in _malformed(json.dumps(bad))
    bad = copy.deepcopy(good)
    bad["hosts"][0]["role"] = "laptop"
    assert "'role' must be one of server, client" in _malformed(json.dumps(bad))


def test_regwiz_apply_of_a_malformed_file_is_bad_input(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"format": "regwiz-plan", "version": 1, "command": "clients"}')
    done = subprocess.run([sys.executable, "-m", "app", "apply", str(plan), "--json"], capture_output=True, text=True,
                          env={"REGWIZ_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "'profile' is missing" in done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["exit"] == 2


def test_a_sensitive_change_from_a_plan_file_has_digests_only() -> None:
    change = FileChange("/etc/regwiz/registry/auth/htpasswd", "old\n", "new\n", 0o600, sensitive=True)
    data = planfile.plan_json(Plan("x", changes=[change]))["changes"][0]
    assert "old" not in data and "new" not in data and data["after_sha256"] == sha256_text("new\n")
    loaded = planfile._change(data, "c")
    assert loaded.changes_anything and loaded.before_sha256 == sha256_text("old\n") and loaded.new is None
    assert loaded.with_text("new\n").after_sha256 == data["after_sha256"]


async def test_recorded_facts_are_used_and_gathered_once_per_connection() -> None:
    from app import facts

    given = RecordedHost({"/etc/default/docker": ""}, [("docker version", 0, "20.10.24")])
    facts.remember(given, DockerService("sysv"))  # a recorded fact: no detection runs for it
    plan, _ = await _plan(DockerTrustStep(ClientKind.SYSV, PLAIN), given)
    assert plan.decision.service == DockerService("sysv")
    assert not any("/run/systemd/system" in line for line in given.commands)
    gathered = RecordedHost({}, [SYSTEMD, ("docker version", 0, "20.10.24")])
    for _ in range(3):
        await _plan(DockerTrustStep(ClientKind.LINUX, TLS), gathered)
    assert sum("/run/systemd/system" in line for line in gathered.commands) == 1
    missing = RecordedHost({}, [])  # no init found (Docker missing): asked again, never kept
    assert (await facts.docker_service(missing)).init == "none"
    missing.answers.append(("-x /etc/init.d/docker", 0, "sysv"))
    assert (await facts.docker_service(missing)).init == "sysv"


# -- the registry's day-two steps (app/registry/ops.py) ----------------------------------------------

REGISTRY_CONFIG = ("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n"
                   "  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n")


class RecordedRegistry:
    """A registry's recorded answers: each tag's manifest (config and one layer), and HEAD by digest."""

    def __init__(self, tags: dict[tuple[str, str], tuple[str, int]]) -> None:
        self.tags = tags  # (repository, tag) -> (manifest digest, layer size)
        self.gone: set[str] = set()

    def catalog(self) -> list[str]:
        return sorted({repo for repo, _ in self.tags})

    def tags_or_none(self, repository: str) -> list[str]:
        return [tag for repo, tag in self.tags if repo == repository]

    def get_manifest(self, repository: str, reference: str, accept: str = "") -> tuple[bytes, str]:
        digest, size = self.tags[(repository, reference)]
        body = {"schemaVersion": 2, "mediaType": SCHEMA2, "config": {"digest": f"c-{digest}", "size": 100},
                "layers": [{"digest": f"l-{digest}", "size": size}]}
        return json.dumps(body).encode(), digest

    def head_manifest(self, repository: str, reference: str, accept: str = "") -> object | None:
        return None if reference in self.gone else object()


def _registry_host(config: str = REGISTRY_CONFIG) -> RecordedHost:
    pushed = "100.0 app/_manifests/tags/v1/current/link\n200.0 app/_manifests/tags/v2/current/link\n"
    return RecordedHost({"/etc/regwiz/registry/config.yml": config},
                        [("mount --help", 0, ""), ("_manifests/tags", 0, pushed)])


TWO_TAGS = {("app", "v1"): ("sha256:m1", 5000), ("app", "v2"): ("sha256:m2", 7000)}


async def test_prune_plan_holds_the_tags_and_the_restart_and_sets_nothing_on_the_step() -> None:
    registry, told = RecordedRegistry(TWO_TAGS), []
    step = PruneStep(registry, "/var/lib/registry", 5000, True, keep=1, on_plan=told.append)  # type: ignore[arg-type]
    before = dict(vars(step))
    host = _registry_host()
    plan, _ = await _plan(step, host)
    assert isinstance(plan.decision, PruneDecision) and plan.decision.cached
    prune = plan.decision.prune
    body, _ = registry.get_manifest("app", "v1")
    assert [(p.info.tag, p.info.digest, p.frees) for p in prune.delete] == [("v1", "sha256:m1", 5000 + 100 + len(body))]
    assert [t.tag for t in prune.kept] == ["v2"] and prune.manifests == [("app", "sha256:m1")]
    assert told == [prune]  # on_plan reports the plan to the caller, nothing more
    assert plan.actions[0].startswith("delete app:v1 (sha256:m1") and "restart of the registry" in plan.actions[-1]
    assert vars(step) == before and step.applied_prune is None  # planning set nothing on the step
    _no_writes(host)


async def test_prune_without_a_blob_cache_or_a_tag_to_delete() -> None:
    config = REGISTRY_CONFIG.replace("  cache:\n    blobdescriptor: inmemory\n", "")
    step = PruneStep(RecordedRegistry(TWO_TAGS), "/var/lib/registry", 5000, True, keep=2)  # type: ignore[arg-type]
    plan, _ = await _plan(step, _registry_host(config))
    assert plan.empty and plan.decision == PruneDecision(PrunePlan([], plan.decision.prune.kept, []), cached=False)
    refused, _ = await _plan(step, _registry_host(config.replace("enabled: true", "enabled: false")))
    assert refused.refused and "refuses deletes" in refused.refused and refused.decision is None


async def test_prune_verify_reads_the_applied_plan() -> None:
    registry = RecordedRegistry(TWO_TAGS)
    step = PruneStep(registry, "/var/lib/registry", 5000, True, keep=1)  # type: ignore[arg-type]
    host = _registry_host()
    plan, ctx = await _plan(step, host)
    host.answers.insert(0, ("curl -sk", 0, "401"))
    step.applied = plan  # as run_step sets it
    assert await step.verify(ctx) == "app@sha256:m1 is still there after its delete"
    registry.gone = {"sha256:m1"}
    assert await step.verify(ctx) is None
    registry.gone = {"sha256:m1", "sha256:m2"}
    assert await step.verify(ctx) == "the kept tag app:v2 (sha256:m2) is gone"


async def test_delete_marked_tags_plans_them_or_refuses_one_gone_since() -> None:
    registry = RecordedRegistry(TWO_TAGS)
    step = DeleteTagsStep(registry, "/var/lib/registry", 5000, True, [("app", "v2")])  # type: ignore[arg-type]
    plan, _ = await _plan(step, _registry_host())
    assert isinstance(plan.decision, PruneDecision)
    assert [p.info.tag for p in plan.decision.prune.delete] == ["v2"] and plan.summary.startswith("prune 1 tags")
    gone = DeleteTagsStep(registry, "/var/lib/registry", 5000, True, [("app", "v9")])  # type: ignore[arg-type]
    refused, _ = await _plan(gone, _registry_host())
    assert refused.refused and "app:v9 is no longer in the registry" in refused.refused


OPS = "ops:$2y$05$abcdefghijklmnopqrstuuJ1e8JxX0yq2y0lq1ZgJcR3l2m7b6r5e\n"
HTPASSWD = "ci:$2y$05$abcdefghijklmnopqrstuuJ1e8JxX0yq2y0lq1ZgJcR3l2m7b6r5e\n" + OPS


async def test_users_plan_holds_the_new_htpasswd_and_whether_verify_logs_in() -> None:
    from app.registry.client import RegistryEndpoint

    client = RegistryClient(RegistryEndpoint("127.0.0.1", 1, False, None))
    host = RecordedHost({"/etc/regwiz/registry/auth/htpasswd": HTPASSWD}, [])
    add = UsersStep("add", "bob", Secret("a long password 2"), client)
    before = dict(vars(add))
    plan, _ = await _plan(add, host)
    assert plan.decision == UsersDecision("add", "bob", log_in=True) and vars(add) == before
    [change] = plan.changes
    assert change.sensitive and change.old == HTPASSWD and (change.new or "").startswith(HTPASSWD + "bob:$2")
    assert "a long password 2" not in repr(plan.decision)
    removed, _ = await _plan(UsersStep("remove", "ci", None, client), host)
    assert removed.decision == UsersDecision("remove", "ci", log_in=False) and removed.changes[0].new == OPS
    missing, _ = await _plan(UsersStep("remove", "ci", None, client), RecordedHost({}, []))
    assert missing.refused and "htpasswd is missing" in missing.refused
    _no_writes(host)


async def test_renew_plan_holds_the_old_and_the_new_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import pki

    monkeypatch.setenv("REGWIZ_HOME", str(tmp_path))
    old = pki.issue_server_certificate(pki.load_or_create_ca(), ["registry.example"])
    host = RecordedHost({CERT_PATH: old.cert_pem.decode(), KEY_PATH: old.key_pem.decode()}, DEPLOY_HOST)
    step = RenewCertificateStep(DeployChoices(names=["registry.example"], users={"ci": Secret("a long password 1")}))
    plan, _ = await _plan(step, host)
    decision = plan.decision
    assert isinstance(decision, RenewDecision) and isinstance(decision, DeployDecision)  # deploy's apply takes it
    [cert] = [c for c in plan.changes if c.path == CERT_PATH]
    assert decision.old_serial == serial_of(old.cert_pem) and decision.new_serial == serial_of(cert.new)
    assert decision.new_serial != decision.old_serial and decision.names == ("registry.example", "10.0.0.9")
    assert not any(c.path.endswith("htpasswd") for c in plan.changes)  # users are left alone
    assert step.applied_serials == (None, None) and not hasattr(step, "new_serial")
    _no_writes(host)


# -- the diagnosis' facts (app/facts.py): typed, shared between checks, forgotten by what changes them ------

ROUTES = json.dumps([{"dst": "default", "gateway": "10.0.0.1", "dev": "eth0"},
                     {"dst": "172.16.0.0/12", "dev": "eth0", "scope": "link"}])
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def _stopped_docker_host() -> RecordedHost:
    """A bookworm host on systemd whose Docker 20.10 is installed but stopped, with Aliyun's 172.16/12 route."""
    return RecordedHost({"/etc/resolv.conf": "nameserver 100.100.2.136\n"}, [
        ("/etc/os-release", 0, OS_RELEASE), ("uname -m", 0, "x86_64"), ("/proc/1/comm", 0, "systemd"),
        SYSTEMD, ("command -v dockerd", 0, "Docker version 20.10.24+dfsg1, build 297e128"),
        ("docker version", 1, ""), ("systemctl is-enabled", 0, "enabled"), ("journalctl", 0, "-- No entries --"),
        ("ip -j -4 route", 0, ROUTES), ("ip -j -4 addr", 0, "[]"), ("cat /etc/resolv.conf", 0, "nameserver 100.100.2.136"),
    ])


async def test_the_diagnosis_shares_typed_facts_from_recorded_answers() -> None:
    from app import facts
    from app.diagnose import DiagnosisContext, run_checks
    from app.diagnose.network import NetworkCheck
    from app.diagnose.system import DockerCheck, SystemCheck
    from app.facts import DockerState, HostSystem

    host = _stopped_docker_host()
    ctx = DiagnosisContext(host, EventBus(), "recorded")
    system, docker, network = await run_checks([SystemCheck(), DockerCheck(), NetworkCheck()], ctx)
    assert system.summary == "Debian GNU/Linux 12 (bookworm), x86_64, systemd"
    assert sum("/etc/os-release" in line for line in host.commands) == 1  # os-release, arch, PID 1: one command
    state = facts.known(host, DockerState)
    assert state == DockerState(installed=True, version="Docker version 20.10.24+dfsg1, build 297e128",
                                running=False, log="-- No entries --", enabled=True)
    assert docker.data["running"] is False and docker.fixes and isinstance(docker.fixes[0], EnableDockerFix)
    # The network check predicted from the version the Docker check found, and did not ask again.
    assert sum("command -v dockerd" in line for line in host.commands) == 1
    # The routes, addresses, resolv.conf, the unit's flags and the files it predicts from: one command.
    [network_reads] = [line for line in host.commands if "ip -j -4 route" in line]
    assert "systemctl show docker -p ExecStart" in network_reads and "/etc/docker/daemon.json" in network_reads
    assert "docker network inspect" not in network_reads  # a stopped daemon is not asked for its networks
    # Docker's version, whether the daemon answers, its boot setting and its log: one command.
    [docker_reads] = [line for line in host.commands if "dockerd --version" in line]
    assert "systemctl is-enabled docker" in docker_reads and "journalctl -u docker" in docker_reads
    assert sum("systemctl show docker" in line for line in host.commands) == 1
    assert sum("/etc/docker/daemon.json" in line for line in host.commands) == 1
    assert network.data["rules_version"] == "20.10.24"  # moby 20.10's pool rules, not a modern default's
    gathered = facts.known(host, NetworkFacts)
    assert gathered is not None and gathered.docker_version == state.version
    # 20.10 skips the pools 172.16/12 covers and takes the first 192.168 one (moby v20.10.24 ipamutils).
    assert network.summary == "docker0 will take 192.168.0.0/20; no route conflict", network.summary
    assert isinstance(facts.known(host, HostSystem), HostSystem)
    _no_writes(host)


async def test_a_fix_forgets_the_facts_it_changes() -> None:
    from app import facts
    from app.facts import DockerState

    host = RecordedHost({}, [("systemctl is-enabled", 0, "enabled"), ("docker version", 0, "20.10.24")])
    facts.remember(host, DockerState(installed=True, version="Docker version 20.10.24", running=False))
    fix = EnableDockerFix(DockerService("systemd"))
    plan, ctx = await _plan(fix, host)
    assert facts.known(host, DockerState) is not None  # planning changes nothing, the facts included
    await fix.apply(ctx, plan)
    assert facts.known(host, DockerState) is None  # the next check that needs it reads the host again


async def test_a_plan_saved_before_a_decision_field_was_added_loads_with_its_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # DeployDecision.image_missing came later: a plan saved without it loads, and its apply asks the host
    # about the image again (the default, what that regwiz did); a field without a default stays required.
    good = json.loads(planfile.render(await _some_plans(tmp_path, monkeypatch)))
    older = copy.deepcopy(good)
    decisions = [step["plan"]["decision"] for host in older["hosts"] for step in host["steps"]
                 if isinstance(step["plan"].get("decision"), dict) and "image_missing" in step["plan"]["decision"]]
    assert decisions, "no deploy decision in the saved plans"
    for decision in decisions:
        del decision["image_missing"]
    back = planfile.parse(json.dumps(older), "plan.json", DECISIONS)
    loaded = [s.plan.decision for h in back.hosts for s in h.steps if isinstance(s.plan.decision, DeployDecision)]
    assert loaded and all(d.image_missing is False for d in loaded)
    del decisions[0]["recreate"]
    assert "'recreate' is missing" in _malformed(json.dumps(older))
