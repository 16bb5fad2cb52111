"""The registry's needs from the host: its port, disk, a right clock, an open firewall."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from app.diagnose.base import Check, CheckResult, DiagnosisContext
from app.events import ScopedEmitter
from app.i18n import N_, _
from app.steps import Status
from app.transport import Command, shell

GIB = 1024 ** 3


def parse_ss_listeners(text: str, port: int) -> list[str]:
    """Process names of listeners on ``port`` in `ss -ltnpH` output ('?' if hidden)."""
    holders = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not re.search(rf"[:.]{port}$", fields[3]):
            continue
        names = re.findall(r'\("([^"]+)"', line)
        holders.extend(names or ["?"])
    return holders


class PortCheck(Check):
    check_id = "port"
    title = N_("Registry port")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        self.title = _("Port {port}").format(port=ctx.registry_port)
        t = ctx.transport
        port = ctx.registry_port
        listing = await t.run(shell("ss -ltnpH 2>/dev/null || netstat -ltnp 2>/dev/null"), sudo=True, emit=emit)
        holders = parse_ss_listeners(listing.stdout, port)
        data = {"port": port, "holders": holders}
        if not holders:
            return self.result(Status.OK, _("{port}/tcp is free").format(port=port), data=data)
        if "docker-proxy" in holders:
            owner = await t.run(Command("docker", "ps", "--filter", f"publish={port}",
                                        "--format", "{{.Names}} {{.Image}}"), sudo=True, emit=emit)
            names = owner.stdout.split()
            data["container"] = owner.stdout.strip()
            if names and names[0] == "registry":
                return self.result(Status.OK, _("{port}/tcp is served by the registry container").format(port=port),
                                   data=data)
            return self.result(Status.FAILURE, _("{port}/tcp is taken by container {container}").format(
                                   port=port, container=owner.stdout.strip() or "?"),
                               evidence=[_("stop that container or choose another registry port")], data=data)
        return self.result(Status.FAILURE, _("{port}/tcp is taken by {programs}").format(
                               port=port, programs=", ".join(sorted(set(holders)))),
                           evidence=[_("stop that program, or choose another port for the registry")], data=data)


class DiskCheck(Check):
    check_id = "disk"
    title = N_("Disk space")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        script = 'p=$1; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | tail -n 1; echo "$p"'
        out = (await ctx.transport.run(shell(script, ctx.storage_path), emit=emit, check=True)).stdout.splitlines()
        fields = out[0].split()
        available = int(fields[3]) * 1024
        data = {"path": ctx.storage_path, "measured_at": out[-1], "available_bytes": available,
                "filesystem": fields[0], "mount": fields[-1]}
        text = _("{gib:.1f} GiB free for {path} (on {mount})").format(
            gib=available / GIB, path=ctx.storage_path, mount=fields[-1])
        if available < 1 * GIB:
            return self.result(Status.FAILURE, text, evidence=[
                _("the registry needs at least 1 GiB; free space or choose another storage path")], data=data)
        if available < 5 * GIB:
            return self.result(Status.WARNING, text,
                               evidence=[_("images fill a registry fast: 5 GiB or more is advised")], data=data)
        return self.result(Status.OK, text, data=data)


class ClockCheck(Check):
    check_id = "clock"
    title = N_("Clock")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        before = time.time()
        remote = await ctx.transport.run(Command("date", "-u", "+%s.%N"), emit=emit, check=True)
        after = time.time()
        remote_time = float(remote.stdout.strip().replace("N", "0"))
        skew = remote_time - (before + after) / 2
        margin = (after - before) / 2
        data = {"skew_seconds": round(skew, 3), "uncertainty_seconds": round(margin, 3)}
        text = _("{skew:+.2f} s from this machine (±{margin:.2f} s)").format(skew=skew, margin=margin)
        advice = [_("TLS certificates are valid from the moment they are made: a wrong clock makes "
                    "clients refuse them. Turn on time sync there (timedatectl set-ntp true, chrony or ntpd).")]
        if abs(skew) - margin > 300:
            return self.result(Status.FAILURE, text, evidence=advice, data=data)
        if abs(skew) - margin > 5:
            return self.result(Status.WARNING, text, evidence=advice, data=data)
        return self.result(Status.OK, text, data=data)


def iptables_blocks(rules: str, port: int) -> str | None:
    """Why `iptables -S INPUT` output would drop the port, or None."""
    accepts = drops = False
    policy_drop = False
    for line in rules.splitlines():
        if line.startswith("-P INPUT") and line.split()[-1] in ("DROP", "REJECT"):
            policy_drop = True
        if re.search(rf"--dport {port}\b", line) or re.search(rf"--dports [\d,:]*\b{port}\b", line):
            if re.search(r"-j ACCEPT", line):
                accepts = True
            elif re.search(r"-j (DROP|REJECT)", line):
                drops = True
    if drops and not accepts:
        return _("an iptables rule drops port {port}").format(port=port)
    if policy_drop and not accepts:
        return _("the INPUT policy drops everything not allowed, and no rule allows port {port}").format(port=port)
    return None


_SECTION = "@@regwiz-exit "
FIREWALL_QUESTIONS = "; ".join(f"{question}; echo {_SECTION}$?" for question in (
    "command -v iptables >/dev/null && iptables -S INPUT",
    "command -v ufw >/dev/null && ufw status",
    "command -v firewall-cmd >/dev/null && firewall-cmd --state && firewall-cmd --list-ports",
))


@dataclass(frozen=True)
class Answer:
    text: str
    ok: bool


def firewall_answers(stdout: str) -> list[Answer]:
    """FIREWALL_QUESTIONS' output split into its three answers (a missing one: not ok)."""
    answers: list[Answer] = []
    lines: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(_SECTION):
            answers.append(Answer("\n".join(lines), line[len(_SECTION):].strip() == "0"))
            lines = []
        else:
            lines.append(line)
    return (answers + [Answer("", False)] * 3)[:3]


class FirewallCheck(Check):
    check_id = "firewall"
    title = N_("Firewall")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        t = ctx.transport
        port = ctx.registry_port
        problems: list[str] = []
        fixes: list[str] = []
        # The three firewalls' questions in one command: each answer, then its exit status.
        listing = await t.run(shell(FIREWALL_QUESTIONS), sudo=True, emit=emit)
        ipt, ufw, fwd = firewall_answers(listing.stdout)
        if ipt.ok:
            why = iptables_blocks(ipt.text, port)
            if why:
                problems.append(why)
                fixes.append(f"iptables -I INPUT -p tcp --dport {port} -j ACCEPT")
        if ufw.ok and "Status: active" in ufw.text and not re.search(rf"^{port}(/tcp)?\s+ALLOW", ufw.text, re.M):
            problems.append(_("ufw is active and does not allow {port}/tcp").format(port=port))
            fixes.append(f"ufw allow {port}/tcp")
        if fwd.ok and f"{port}/tcp" not in fwd.text:
            problems.append(_("firewalld is running and does not open {port}/tcp").format(port=port))
            fixes.append(f"firewall-cmd --permanent --add-port={port}/tcp && firewall-cmd --reload")
        cloud = _("A cloud security group (Aliyun ECS: the instance's security group) also has to let "
                  "TCP {port} in; regwiz cannot see it from the host.").format(port=port)
        data = {"port": port, "problems": problems}
        if problems:
            return self.result(Status.WARNING, "; ".join(problems),
                               evidence=[_("to open it: {command}").format(command=fix) for fix in fixes] + [cloud],
                               data=data)
        return self.result(Status.OK, _("no host firewall rule blocks {port}/tcp").format(port=port),
                           evidence=[cloud], data=data)
