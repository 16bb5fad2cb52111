"""containerd and podman/CRI-O: their own trust files, edited with tomlkit.

containerd: /etc/containerd/certs.d/HOST:PORT/hosts.toml, enabled by
config_path under the CRI registry section of config.toml (comments and other
settings kept). podman, CRI-O: a registries.conf.d drop-in and the CA in
/etc/containers/certs.d/HOST:PORT/.
"""

from __future__ import annotations

import tomlkit

from app.clients.model import RegistryTarget
from app.remote_files import FileChange
from app.steps import Plan, Step, StepContext
from app.transport import Command, shell

CONTAINERD_CONFIG = "/etc/containerd/config.toml"
CERTS_D = "/etc/containerd/certs.d"


def hosts_toml(registry: RegistryTarget) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Written by regwiz for the registry at {registry.address}"))
    doc["server"] = registry.url
    host = tomlkit.table()
    host["capabilities"] = ["pull", "resolve", "push"]
    if registry.tls and registry.ca_pem:
        host["ca"] = f"{CERTS_D}/{registry.address}/ca.crt"
    if registry.insecure:
        host["skip_verify"] = True
    hosts = tomlkit.table(is_super_table=True)
    hosts[registry.url] = host
    doc["host"] = hosts
    return tomlkit.dumps(doc)


def containerd_config_with_path(text: str | None) -> str:
    """config.toml with config_path set for the CRI plugin (version 2 layout)."""
    doc = tomlkit.parse(text) if text and text.strip() else tomlkit.document()
    if not text or not text.strip():
        doc["version"] = 2
    plugins = doc.setdefault("plugins", tomlkit.table(is_super_table=True))
    cri = plugins.setdefault("io.containerd.grpc.v1.cri", tomlkit.table(is_super_table=True))
    registry = cri.setdefault("registry", tomlkit.table())
    registry["config_path"] = CERTS_D
    return tomlkit.dumps(doc)


def registries_conf(registry: RegistryTarget) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Written by regwiz for the registry at {registry.address}"))
    entry = tomlkit.table()
    entry["location"] = registry.address
    entry["insecure"] = registry.insecure
    aot = tomlkit.aot()
    aot.append(entry)
    doc["registry"] = aot
    return tomlkit.dumps(doc)


class _FilesStep(Step):
    service = ""

    def __init__(self, registry: RegistryTarget) -> None:
        self.registry = registry
        self.restart = False

    async def wanted(self, ctx: StepContext) -> list[FileChange]:
        raise NotImplementedError

    async def plan(self, ctx: StepContext) -> Plan:
        try:
            changes = await self.wanted(ctx)
        except Exception as exc:  # tomlkit raises several parse error types
            return Plan(self.title, refused=f"an existing configuration file could not be read: {exc}")
        active = await ctx.transport.run(Command("systemctl", "is-active", self.service)) if self.service else None
        self.restart = bool(active and active.stdout.strip() == "active") and any(c.changes_anything for c in changes)
        return Plan(self.title, changes=changes, actions=[f"restart {self.service}"] if self.restart else [])

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            if change.changes_anything:
                await ctx.files.write(change)
        if self.restart:
            await ctx.transport.run(Command("systemctl", "restart", self.service), sudo=True, emit=ctx.emit,
                                    check=True)

    async def verify(self, ctx: StepContext) -> str | None:
        if self.restart:
            active = await ctx.transport.run(Command("systemctl", "is-active", self.service))
            if active.stdout.strip() != "active":
                return f"{self.service} did not come back"
        return None

    async def rollback(self, ctx: StepContext) -> None:
        await ctx.files.restore_all()
        if self.restart:
            await ctx.transport.run(Command("systemctl", "restart", self.service), sudo=True, emit=ctx.emit)


class ContainerdTrustStep(_FilesStep):
    service = "containerd"

    def __init__(self, registry: RegistryTarget) -> None:
        super().__init__(registry)
        self.title = f"containerd: trust {registry.address}"

    async def wanted(self, ctx: StepContext) -> list[FileChange]:
        r = self.registry
        base = f"{CERTS_D}/{r.address}"
        changes = [FileChange(f"{base}/hosts.toml", await ctx.files.read(f"{base}/hosts.toml"), hosts_toml(r))]
        if r.tls and r.ca_pem:
            changes.append(FileChange(f"{base}/ca.crt", await ctx.files.read(f"{base}/ca.crt"), r.ca_pem.decode()))
        config = await ctx.files.read(CONTAINERD_CONFIG)
        changes.append(FileChange(CONTAINERD_CONFIG, config, containerd_config_with_path(config)))
        return changes


class PodmanTrustStep(_FilesStep):
    service = ""  # podman has no daemon; CRI-O re-reads registries on restart

    def __init__(self, registry: RegistryTarget) -> None:
        super().__init__(registry)
        self.title = f"podman/CRI-O: trust {registry.address}"

    async def wanted(self, ctx: StepContext) -> list[FileChange]:
        r = self.registry
        name = r.address.replace(":", "-")
        conf = f"/etc/containers/registries.conf.d/50-regwiz-{name}.conf"
        changes = [FileChange(conf, await ctx.files.read(conf), registries_conf(r))]
        if r.tls and r.ca_pem:
            ca = f"/etc/containers/certs.d/{r.address}/ca.crt"
            changes.append(FileChange(ca, await ctx.files.read(ca), r.ca_pem.decode()))
        return changes

    async def plan(self, ctx: StepContext) -> Plan:
        plan = await super().plan(ctx)
        crio = await ctx.transport.run(shell("systemctl is-active crio 2>/dev/null"))
        if crio.stdout.strip() == "active":
            self.service, self.restart = "crio", any(c.changes_anything for c in plan.changes)
            plan.actions = ["restart crio"] if self.restart else []
        return plan
