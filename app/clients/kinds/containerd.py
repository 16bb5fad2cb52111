"""containerd alone (a Kubernetes node): hosts.toml under its certs.d, proven by `ctr images pull`.

ctr takes the password itself (typed into a pty: runtimes.prove_pull_ctr), so there is no login.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from app.clients.kinds.base import INSTALLED, RUNS, ClientKind, Proof, Sign, register
from app.i18n import N_, _

if TYPE_CHECKING:
    from app.clients.model import RegistryTarget
    from app.events import ScopedEmitter
    from app.steps import Plan, Step
    from app.transport import Transport


@register
class ContainerdKind(ClientKind):
    name = "containerd"
    label = "containerd"
    order = 50
    tool = "ctr"
    binaries = ("containerd", "ctr")
    daemons = ("containerd",)

    def signs(self) -> Sequence[Sign]:
        # Below dockerd and CRI-O, which run on containerd.
        return (Sign(RUNS + 100, N_("containerd runs"), lambda f: f.runs("containerd")),
                Sign(INSTALLED + 100, N_("containerd is installed"), lambda f: f.installed("containerd")))

    def steps(self, registry: RegistryTarget) -> list[Step]:
        from app.clients.runtimes import ContainerdTrustStep

        return [ContainerdTrustStep(registry)]

    async def login(self, transport: Transport, registry: RegistryTarget, emit: ScopedEmitter,
                    address: str | None = None) -> None:
        return None  # ctr has no login: prove() gives it the credentials

    async def prove(self, transport: Transport, registry: RegistryTarget, emit: ScopedEmitter,
                    plans: Sequence[Plan] = (), address: str | None = None) -> Proof:
        from app.clients.runtimes import FilesDecision, prove_pull_ctr

        # Through the hosts dir the trust step's plan wrote to (config.toml's own config_path may name another);
        # without that plan (the dashboard's pull), the one config.toml names.
        trust = next((p.decision for p in plans if isinstance(p.decision, FilesDecision)
                      and p.decision.service == "containerd"), None)
        certs_dir = trust.certs_dir if trust is not None else await self.certs_dir(transport)
        seconds = await prove_pull_ctr(transport, registry, emit, certs_dir)
        return Proof(seconds, _("pulled {image} with ctr in {seconds:.1f} s").format(image=registry.image_ref(),
                                                                                     seconds=seconds))

    async def certs_dir(self, transport: Transport) -> str:
        """The hosts dir of config.toml's config_path (its first), else /etc/containerd/certs.d."""
        from app.clients.runtimes import CERTS_D, CONTAINERD_CONFIG, certs_dir_for, containerd_major
        from app.remote_files import RemoteFiles
        from app.transport import Command

        version = await transport.run(Command("containerd", "--version"))
        try:
            return certs_dir_for(await RemoteFiles(transport).read(CONTAINERD_CONFIG),
                                 containerd_major(version.stdout))
        except ValueError:  # an unreadable config.toml (ConfigRefused, TOML errors): the default dir
            return CERTS_D
