"""The Docker clients of the flag-file inits on the new releases, each proven by a real pull.

tests/test_clients_testbed.py proves the systemd client on trixie, the SysV kind on sid
(linux_client@sid, a TLS registry: the CA only) and podman and containerd there. What only the
flag files do is proven here on trixie's Docker 26.1.5 and sid's 28.5.2: an insecure registry
written as `--insecure-registry` into DOCKER_OPTS (/etc/default/docker, Debian's SysV script)
and boot2docker's EXTRA_ARGS, the daemon restarted by its SysV script, then a pull. Both are
older than 29.10, so no loopback entry is added (tests/test_docker29.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from app.clients.configure import summary_table
from app.clients.model import ClientKind, RegistryTarget
from app.steps import Status
from tests.test_clients_testbed import run_all, spec
from tests.testbed.hosts import Testbed

HOSTS = ("sysv_client@trixie", "sysv_client@sid", "boot2docker@trixie", "boot2docker@sid")
FLAGS = {"sysv_client": ("/etc/default/docker", "DOCKER_OPTS"),
         "boot2docker": ("/var/lib/boot2docker/profile", "EXTRA_ARGS")}


async def test_flag_file_clients_on_trixie_and_sid_pull_from_an_insecure_registry(
        testbed: Testbed, insecure_registry: RegistryTarget, tmp_path: Path) -> None:
    hosts = testbed.start(*HOSTS)
    address = insecure_registry.address
    try:
        assert [(h.release, h.init) for h in hosts] == [("trixie", "sysv"), ("sid", "sysv")] * 2
        results, confirmed, _ = await run_all([spec(h, tmp_path) for h in hosts], insecure_registry)
        assert [r.status for r in results] == [Status.OK] * 4, summary_table(results)
        assert [r.kind for r in results] == [ClientKind.SYSV] * 2 + [ClientKind.BOOT2DOCKER] * 2
        assert all(r.pull_seconds and r.pull_seconds > 0 for r in results)
        for host, (_, plan) in zip(hosts, confirmed[0], strict=True):
            path, var = FLAGS[host.name]
            text = host.exec("cat", path).stdout
            assert f'{var}="--label=io.regwiz.flavour={host.name} --insecure-registry {address}"' in text, text
            assert "127.0.0.0/8" not in text  # Docker 26 and 28 hold loopback themselves
            assert plan.actions == ["restart dockerd (flags are read only at start)"]
            assert [c.path for c in plan.changes if c.changes_anything] == [path]
            # The restarted daemon runs with the flags: the registry and the flavour's own label.
            info = json.loads(host.exec("docker", "info", "--format", "{{json .}}").stdout)
            assert info["Labels"] == [f"io.regwiz.flavour={host.name}"]
            assert address in json.dumps(info["RegistryConfig"]), (host.name, host.release)
            assert info["ServerVersion"].startswith("26.1.5" if host.release == "trixie" else "28.5.2")
        again, confirmed_again, _ = await run_all([spec(h, tmp_path) for h in hosts], insecure_registry)
        assert [r.status for r in again] == [Status.OK] * 4 and confirmed_again == [], summary_table(again)
    finally:
        for host in hosts:
            testbed.remove(host)
