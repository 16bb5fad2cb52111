"""The registry's needs from the host: its port, disk, a right clock, an open firewall."""

from __future__ import annotations

import re
import shlex

from app.diagnose.base import Check, CheckResult, DiagnosisContext
from app.events import ScopedEmitter
from app.facts import Reply
from app.i18n import N_, _
from app.steps import Status
from app.transport import Command, TransportError

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


def reply_or_raise(reply: Reply, script: str) -> str:
    """The snippet's output, or the error a failed command raises (``run(check=True)``)."""
    if not reply.ok:
        raise TransportError(_("{command} exited with {status}").format(
            command=f"`{script}`", status="?" if reply.status is None else reply.status))
    return reply.text


# The four checks below read in one command (Check.reads, DiagnosisContext.replies): the port's listeners,
# the disk, the clock and the firewalls, one round trip for all (the port's owner, when docker-proxy
# holds it, is asked after).
class PortCheck(Check):
    check_id = "port"
    title = N_("Registry port")
    reads_sudo = True  # the owners' process names

    def reads(self, ctx: DiagnosisContext) -> list[str]:
        return ["ss -ltnpH 2>/dev/null || netstat -ltnp 2>/dev/null"]

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        self.title = _("Port {port}").format(port=ctx.registry_port)
        t = ctx.transport
        port = ctx.registry_port
        [listing], _sent, _answered = await ctx.replies(self, emit)
        holders = parse_ss_listeners(listing.text, port)
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

    def reads(self, ctx: DiagnosisContext) -> list[str]:
        # The nearest folder of the storage path that exists: the registry makes the rest.
        return [f'p={shlex.quote(ctx.storage_path)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; '
                'df -Pk "$p" | tail -n 1; echo "$p"']

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        [reply], _sent, _answered = await ctx.replies(self, emit)
        out = reply_or_raise(reply, self.reads(ctx)[0]).splitlines()
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

    def reads(self, ctx: DiagnosisContext) -> list[str]:
        return ["date -u +%s.%N"]

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        # The host's clock was read between the command's sending and its answer: the skew is known
        # to within half that time (the other checks' reads in the same command included).
        [reply], before, after = await ctx.replies(self, emit)
        remote_time = float(reply_or_raise(reply, self.reads(ctx)[0]).strip().replace("N", "0"))
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


# The three firewalls' questions: an answer's exit status says whether that firewall is there.
FIREWALL_QUESTIONS = (
    "command -v iptables >/dev/null && iptables -S INPUT",
    "command -v ufw >/dev/null && ufw status",
    "command -v firewall-cmd >/dev/null && firewall-cmd --state && firewall-cmd --list-ports",
)


class FirewallCheck(Check):
    check_id = "firewall"
    title = N_("Firewall")
    reads_sudo = True

    def reads(self, ctx: DiagnosisContext) -> list[str]:
        return list(FIREWALL_QUESTIONS)

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        port = ctx.registry_port
        problems: list[str] = []
        fixes: list[str] = []
        # Each firewall's answer, and by its exit status whether that firewall is there.
        ipt, ufw, fwd = (await ctx.replies(self, emit))[0]
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
