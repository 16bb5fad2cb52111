"""How many remote commands `regwiz setup --yes` sends, per step: none may grow back (issue 16).

The counting of benchmarks/command_counts.py (it wraps SSHTransport._execute and names the step of
each command) on its own case: an `ecs_conflict` registry host (its bridge fix applied), a
`linux_client`. Each bound is the count measured after the cuts of issue 16 (diagnose once, one
command per file written, a step's files read in one command, no verify that repeats a check just
made); a change that sends more fails here, with where the commands go. Counts are the same on a
fast or a loaded machine: a polling loop's repeats (asking until the host answers) are counted apart.
"""

from __future__ import annotations

import asyncio

from benchmarks.command_counts import counted_setup
from tests.testbed.hosts import Testbed, TestHost

# step @ host -> at most this many remote commands: the counts measured on 2026-12-01 after the cuts
# (35 in all since the deploy's files, its last check and the bridge fix's enable, restart and first answer
# went into one command each, 42 before, sshd's count too; 61 before the batched reads below, 109 before the
# first cuts: diagnosis 42, deploy 32, bridge fix 13, client trust 7). On 2026-12-02 still 35: the image
# staged while dockerd restarts and loaded after is one command more, the deploy's second image check one less.
# Later that day 32: the start-Docker fix is not planned when the bridge fix's restart started dockerd (its
# check, run again after that fix, says so), and the bridge fix checks local-kv.db's planned absence in its
# write and reads docker0's addresses in its restart's command.
BOUNDS = {
    # one diagnosis, then the docker and network checks again; each check's reads in one command
    # (read_in_one): os-release, arch and PID 1; Docker's version, state, boot setting and log; the
    # routes, addresses, resolv.conf, ExecStart, the files and the daemon's networks; the port, disk,
    # clock and firewall checks' reads together (17 before, 14 after the resources' batch)
    "diagnose (checks) @ server": 8,
    # its reads (addresses, dockerd answers, the container, the listeners, the image, its files) in one
    # command (19 before, 15 before the files joined); verify asks the container's state and its HTTP
    # answer in one command each time; the image's load, tag and the upload's own name dropped in one (14
    # before that); its folders and four files written in one command (12 before); the last restart-count
    # check and the removal of the container kept aside in one (8 before); the image not asked again when
    # the plan found it missing, the image staged while dockerd restarted loaded in one command (7 before)
    "DeployRegistryStep @ server": 6,
    # its plan reads daemon.json and dockerd's state in one command (8 before); the enable, the restart,
    # the daemon's first answer and docker0's addresses (verify's) in one command (7, then 5 before); a
    # local-kv.db planned absent is checked in the write's command, not backed up (there is nothing to copy)
    "DaemonNetworkFix @ server": 3,
    # (EnableDockerFix: none; its check, run again after the bridge fix, finds dockerd running: 1 before)
    # the host lock, the deploy's digest check, the Docker Hub probe, dockerd; the image streamed to a file
    # on the host while the bridge fix restarts dockerd (4 before: it went with the load, in the deploy)
    "(no step) @ server": 5,
    "DockerTrustStep @ client": 3,  # its files and dockerd's init detection in one command (4 before)
    "DockerStoreHostsStep @ client": 1,
    "clients: _execute @ client": 4,
    "clients: _prepare @ client": 1,
    "(no step) @ client": 1,
}


async def test_setup_sends_no_more_remote_commands_than_pinned(testbed: Testbed, fresh_host) -> None:  # type: ignore[no-untyped-def]
    server: TestHost = fresh_host("ecs_conflict")
    client: TestHost = fresh_host("linux_client")
    code, counter = await asyncio.to_thread(counted_setup, testbed, server, client)
    assert code == 0
    counts = counter.steps({f"root@{server.address}": "server", f"root@{client.address}": "client"})
    detail = "\n".join(f"{n:4d}  {step} / {where} / {word}" for (step, where, word), n in
                       sorted(counter.per_function.items()))
    over = {step: (n, BOUNDS.get(step, 0)) for step, n in counts.items() if n > BOUNDS.get(step, 0)}
    assert not over, f"more remote commands than pinned (count, bound): {over}\n{detail}"
    assert sum(counts.values()) <= sum(BOUNDS.values())
