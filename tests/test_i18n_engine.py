"""The engine speaks the language in use: under zh_CN, representative messages that a person reads come
out in Chinese with every placeholder filled (file, line, field, host, pid, seconds), and the same calls
give the English text again once English is back in use.

Each message is made by the code that makes it for real (the profile parser, the client and users steps,
the host lock's error, run_step's rollback report, the SSH transport's explanation of a failure).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app import i18n
from app.clients.docker_trust import DockerTrustStep
from app.clients.kinds import kind_named
from app.clients.model import RegistryTarget
from app.clients.runtimes import ContainerdTrustStep
from app.dockerd import explain_failure
from app.events import EventBus
from app.hostlock import Holder, HostBusy
from app.profiles import ProfileError, parse_profile
from app.registry.ops import UsersStep
from app.remote_files import FileChange
from app.steps import Outcome, Plan, Step, StepContext, run_step
from app.transport.hostkeys import KnownHostsStore
from app.transport.local import LocalTransport
from app.transport.ssh import HostUnreachable, SSHTarget, SSHTransport


def _no_placeholder_left(text: str) -> None:
    assert "{" not in text and "}" not in text, text


def test_a_malformed_profile_names_file_line_and_field_in_chinese(chinese: None) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile('[server]\nhost = "a"\nport = "abc"\n', Path("profile.toml"))
    text = str(caught.value)
    assert text == 'profile.toml, 第 3 行: server.port 必须是 1 到 65535 之间的整数（实际为 "abc"）'
    assert caught.value.field == "server.port" and caught.value.line == 3  # the data stays as it was


def test_the_same_profile_error_is_english_again_in_english() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile('[server]\nhost = "a"\nport = "abc"\n', Path("profile.toml"))
    assert str(caught.value) == ('profile.toml, line 3: server.port must be a whole number from 1 to 65535 '
                                 '(found "abc")')


def test_client_plan_summaries_are_chinese_with_the_address(chinese: None) -> None:
    registry = RegistryTarget("203.0.113.10", 5000, True, None)
    docker = DockerTrustStep(kind_named("linux"), registry)  # type: ignore[arg-type]
    assert docker.title == "信任 203.0.113.10:5000（linux）"
    assert ContainerdTrustStep(registry).title == "containerd：信任 203.0.113.10:5000"
    users = UsersStep("add", "alice", None, None)  # type: ignore[arg-type]
    assert users.title == "添加仓库用户 alice"


def test_the_host_lock_message_is_chinese_and_names_the_holder(chinese: None) -> None:
    holder = Holder("bob", "laptop", 4242, time.time() - 30, "regwiz deploy", origin="198.51.100.7")
    text = str(HostBusy("root@203.0.113.10", holder, 10.0))
    assert text.startswith("另一个 regwiz 运行正在修改 root@203.0.113.10：bob@laptop（`regwiz deploy`，pid 4242），"
                           "来自 laptop (198.51.100.7)，开始于 "), text
    assert "已等待 10.0 秒；本次运行没有做任何修改" in text and "REGWIZ_LOCK_WAIT=SECONDS" in text
    _no_placeholder_left(text)


class _FailingWrite(Step):
    """Writes one file of the user's own, then never verifies: run_step rolls it back."""

    title = "write and fail"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def plan(self, ctx: StepContext) -> Plan:
        return Plan("write", changes=[FileChange(str(self.path), self.path.read_text(), "new text\n")],
                    files_sudo=False)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            await ctx.files.write(change)

    async def verify(self, ctx: StepContext) -> str | None:
        return "the service did not like the new text"  # what a check found (not translated here)

    async def rollback(self, ctx: StepContext) -> None:
        await ctx.files.restore_all()


async def _yes(plan: Plan) -> bool:
    return True


async def test_a_rollback_report_is_chinese(chinese: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # backups and the lock go to the test's own folder
    target = tmp_path / "app.conf"
    target.write_text("old text\n")
    async with LocalTransport() as t:
        result = await run_step(_FailingWrite(target), StepContext(t, EventBus().scoped(source="x")), _yes)
    assert result.outcome is Outcome.ROLLED_BACK, result.message
    assert result.message == "the service did not like the new text。已回滚：主机已恢复原样。"
    assert target.read_text() == "old text\n"


def test_an_unreachable_host_is_explained_in_chinese(chinese: None, tmp_path: Path) -> None:
    target = SSHTarget("203.0.113.10", 2222, "root", connect_timeout=2.5,
                       known_hosts=KnownHostsStore(tmp_path / "kh"))
    error = SSHTransport(target)._explain(TimeoutError())
    assert isinstance(error, HostUnreachable)
    assert str(error) == "203.0.113.10:2222 在 2.5 秒内没有响应：请检查地址，并确认防火墙或安全组放行了端口 2222"
    refused = SSHTransport(target)._explain(ConnectionRefusedError())
    assert str(refused) == "203.0.113.10:2222 上没有服务在监听：请检查端口，并确认那里运行着 sshd"


def test_the_unreachable_host_is_english_in_english(tmp_path: Path) -> None:
    target = SSHTarget("203.0.113.10", 2222, "root", connect_timeout=2.5,
                       known_hosts=KnownHostsStore(tmp_path / "kh"))
    assert str(SSHTransport(target)._explain(TimeoutError())) == (
        "203.0.113.10:2222 did not answer within 2.5 s: check the address, and that a firewall or security "
        "group lets port 2222 in")


async def test_a_dockerd_failure_reads_in_chinese_while_its_data_keeps_english(
        chinese: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import facts
    from app.diagnose import DiagnosisContext
    from app.diagnose.system import DockerCheck
    from app.facts import DockerState

    line = ("failed to start daemon: Error initializing network controller: list bridge addresses failed: "
            "PredefinedLocalScopeDefaultNetworks List: [172.17.0.0/16 172.18.0.0/16]: no available network")

    class StoppedService:
        init = "systemd"

        async def is_enabled(self, transport: object) -> bool:
            return True

    async def gathered(cls: type, transport: object, emit: object = None) -> DockerState:
        return DockerState(installed=True, version="Docker version 20.10.24", running=False, log=line)

    async def service(transport: object) -> StoppedService:
        return StoppedService()

    monkeypatch.setattr(DockerState, "gather", classmethod(gathered))
    monkeypatch.setattr(facts, "docker_service", service)
    host = LocalTransport()
    check = DockerCheck()
    result = await check.run(DiagnosisContext(host, EventBus(), "recorded"), EventBus().scoped(source="t"))
    facts.forget(host, DockerState)
    assert result.data["cause"].startswith("no free address range for docker0")  # JSON stays English
    assert "docker0 没有可用的地址段" in result.summary and result.summary.startswith("Docker version 20.10.24")
    assert result.evidence[0] == line  # the daemon's own line, as logged
    assert "空闲的地址段" in result.evidence[1] and "default-address-pools" in result.evidence[1]
    assert "守护进程" in explain_failure("Error starting daemon: unknown flag: --bogus").said_cause  # type: ignore[union-attr]
    i18n.use("en")
    assert explain_failure(line).said_cause == result.data["cause"]  # type: ignore[union-attr]


def test_the_client_results_table_and_the_detection_read_in_chinese_and_line_up(chinese: None) -> None:
    from rich.cells import cell_len

    from app.clients.configure import ClientResult, summary_table
    from app.clients.detect import parse_probe
    from app.steps import Status

    rows = summary_table([ClientResult("build-01", kind_named("linux"), Status.OK, "pulled")])
    assert rows[0].startswith("客户端") and "详情" in rows[0]
    # "类型" starts at the same display column as the row's kind, Chinese characters being two wide
    assert cell_len(rows[0][:rows[0].index("类型")]) == rows[1].index("linux") == 25
    found = parse_probe("system: Linux\nbinaries: docker\nrunning: none\ninit: systemd\nfiles: none\nos-release: none\n")
    assert found.evidence == "运行中：无容器守护进程；已安装：docker；init：systemd"
    assert kind_named("linux").said_label == "systemd 的 Linux"
    i18n.use("en")
    assert summary_table([])[0] == f"{'client':<24} {'kind':<12} {'result':<8} detail"
    assert parse_probe("system: Linux\nbinaries: docker\nrunning: none\ninit: systemd\n").evidence == \
        "running: no container daemon; installed: docker; init: systemd"


def test_shared_step_titles_stay_english_on_the_class_and_read_in_chinese_where_shown(chinese: None) -> None:
    from app.registry.deploy import DeployRegistryStep
    from app.registry.ops import DeleteTagsStep, PruneStep, RenewCertificateStep

    titles = [DeployRegistryStep.title, PruneStep.title, DeleteTagsStep.title, RenewCertificateStep.title]
    # plan files match saved steps on the English title
    assert titles == ["Deploy the registry", "Prune the registry", "Delete the marked tags",
                      "Renew the registry's certificate"]
    assert [i18n._(t) for t in titles] == ["部署镜像仓库", "清理镜像仓库", "删除已标记的标签", "续签镜像仓库的证书"]


def test_a_refused_login_is_told_by_its_type_so_the_advice_holds_in_chinese(chinese: None) -> None:
    """The headless onboarding adds its --ssh-password-env hint to a refused SSH login, and the registry's
    refusal asks for the password again: both by the error's type, which a translation cannot break."""
    import asyncio

    import asyncssh

    from app.clients.configure import ClientResult, ClientSpec, _guarded, _Job
    from app.registry.client import CredentialsRefused, RegistryClient, RegistryEndpoint
    from app.transport import TransportError
    from app.transport.base import LoginRefused

    transport = SSHTransport(SSHTarget("10.0.0.7", user="dev", known_hosts=KnownHostsStore(Path("/nonexistent"))))
    refused = transport._explain(asyncssh.PermissionDenied("denied"))
    assert isinstance(refused, LoginRefused) and "拒绝了登录" in str(refused)
    _no_placeholder_left(str(refused))

    def job() -> _Job:
        name = "dev@10.0.0.7"
        return _Job(ClientSpec(name, lambda: transport), EventBus().scoped(source="t"), ClientResult(name))

    async def fail_with(error: Exception) -> ClientResult:
        given = job()

        async def work() -> None:
            raise error

        await _guarded(given, work)
        return given.result

    assert asyncio.run(fail_with(refused)).login_refused
    assert not asyncio.run(fail_with(TransportError("10.0.0.7 did not answer"))).login_refused

    class Answer:
        status, reason, body, sent_credentials = 401, "Unauthorized", b"{}", True

        def header(self, name: str) -> str:
            return 'Basic realm="registry"'

    client = RegistryClient(RegistryEndpoint("10.0.0.5", username="ci"))
    error = client._auth_error(Answer(), "")  # type: ignore[arg-type]
    assert isinstance(error, CredentialsRefused) and str(error) == "镜像仓库拒绝了用户 ci：密码错误或用户不存在"
