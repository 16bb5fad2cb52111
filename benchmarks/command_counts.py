"""Where regwiz's remote commands go: `regwiz setup --yes` (the end-to-end run: an `ecs_conflict` registry
host and a `linux_client`), every command attributed to the step and function that sent it.

    PYTHONPATH=. .venv/bin/python -m benchmarks.command_counts

Every remote command passes SSHTransport._execute (one SSH session each: an exec request sshd counts);
this wraps it, walks the caller's stack to the nearest Step (app/steps.py) and the nearest function of
regwiz outside the transport, and prints the counts per step and per function, with sshd's own total
to show the attribution misses nothing. Not a timed benchmark: counts do not depend on the machine,
but for the repeats of loops that ask until the host answers (POLLS), which are counted apart.
tests/test_command_counts_testbed.py holds each step to its count.
"""

from __future__ import annotations

import collections
import inspect
import os
import secrets
import sys
import tempfile
import time
import types
from pathlib import Path

from benchmarks.end_to_end import profile_text
from benchmarks.hosts import count_sshd, sshd_counts
from tests.registry_helpers import unreachable_probe
from tests.testbed.hosts import Testbed, TestHost

APP = str(Path(__file__).resolve().parent.parent / "app")
TRANSPORT = os.path.join(APP, "transport")


# Loops that ask until the host answers: how often they ask depends on the machine's speed, so a
# command such a loop sent before in the same call counts as a repeat, not in the per-step counts.
POLLS = {("dockerd", "wait_until_answering"), ("registry.deploy", "verify")}


def attribute() -> tuple[str, str, types.FrameType | None]:
    """(the Step class sending, or the phase; the nearest regwiz function outside the transport;
    the frame of the polling loop sending it, if any)."""
    from app.steps import Step

    step, where = "", ""
    poll: types.FrameType | None = None
    frame = inspect.currentframe()
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(APP) and not path.startswith(TRANSPORT):
            module = Path(path).relative_to(APP).with_suffix("").as_posix().replace("/", ".")
            if not where:
                where = f"{module}.{frame.f_code.co_name}"
            if poll is None and (module, frame.f_code.co_name) in POLLS:
                poll = frame
            owner = frame.f_locals.get("self")
            if not step and isinstance(owner, Step):
                step = type(owner).__name__
            if not step and module.startswith("diagnose"):
                step = "diagnose (checks)"
            if not step and module == "clients.configure":
                step = f"clients: {frame.f_code.co_name}"
        frame = frame.f_back
    return step or "(no step)", where or "?", poll


class CommandCounter:
    """While active, every remote command is counted per (step, host) and per (step, function, program)."""

    def __init__(self) -> None:
        self.per_step: collections.Counter[str] = collections.Counter()
        self.per_function: collections.Counter[tuple[str, str, str]] = collections.Counter()
        #: Commands a polling loop (POLLS) sent again within one call: counted here only.
        self.repeats: collections.Counter[str] = collections.Counter()
        self._polled: dict[int, tuple[types.FrameType, set[str]]] = {}  # frames kept: ids are not reused

    def __enter__(self) -> "CommandCounter":
        from app.transport.ssh import SSHTransport

        self._original = original = SSHTransport._execute
        counter = self

        async def counted(self, line, *args, **kwargs):  # type: ignore[no-untyped-def]
            step, where, poll = attribute()
            if poll is not None:
                _, sent = counter._polled.setdefault(id(poll), (poll, set()))
                if line in sent:
                    counter.repeats[f"{step} @ {self.label}"] += 1
                    return await original(self, line, *args, **kwargs)
                sent.add(line)
            counter.per_step[f"{step} @ {self.label}"] += 1
            words = line.split()
            word = next((w for w in words if w not in ("sudo", "-S", "-p", "''", "--", "sh", "-c", "exec")), "?")
            counter.per_function[(step, where, word[:30])] += 1
            return await original(self, line, *args, **kwargs)

        SSHTransport._execute = counted  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from app.transport.ssh import SSHTransport

        SSHTransport._execute = self._original  # type: ignore[method-assign]

    def steps(self, names: dict[str, str]) -> dict[str, int]:
        """The counts per step and host, hosts named by ``names`` (address -> name)."""
        named: collections.Counter[str] = collections.Counter()
        for key, count in self.per_step.items():
            for address, name in names.items():
                key = key.replace(address, name)
            named[key] += count
        return dict(named)


def counted_setup(bed: Testbed, server: TestHost, client: TestHost) -> tuple[int, CommandCounter]:
    """`regwiz setup --yes --json` on ``server`` (an `ecs_conflict`) and ``client`` (a `linux_client`),
    in this process, every remote command counted; (its exit code, the counts)."""
    assert bed.images is not None and bed.client_key is not None
    home = Path(tempfile.mkdtemp(prefix="regwiz-counts-"))
    (home / "state").mkdir(parents=True)
    (home / "state" / "known_hosts").write_text(
        "".join(line + "\n" for host in (server, client) for line in host.known_hosts_lines()))
    profile = home / "bench.toml"
    profile.write_text(profile_text(server, client, bed.client_key.path))
    env = {"REGWIZ_HOME": str(home), "BENCH_REGISTRY_PASSWORD": "c-" + secrets.token_urlsafe(9),
           "REGWIZ_UPLOAD_IMAGE": bed.images.registry, "REGWIZ_HUB_PROBE_URL": unreachable_probe(bed)}
    saved_env = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    from app.cli import main as regwiz

    try:
        with CommandCounter() as counter, open(home / "setup.jsonl", "w") as out:
            saved, sys.stdout = sys.stdout, out
            try:
                code = regwiz(["setup", "--profile", str(profile), "--yes", "--json"])
            finally:
                sys.stdout = saved
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return code, counter


def main() -> int:
    with Testbed() as bed:
        server, client = bed.start("ecs_conflict", "linux_client")
        count_sshd([server, client])
        time.sleep(1)
        since = time.time()
        code, counter = counted_setup(bed, server, client)
        sshd = sshd_counts(server, since) + sshd_counts(client, since)
        names = {server.address: "server", client.address: "client"}
    total = sum(counter.per_step.values()) + sum(counter.repeats.values())
    print(f"regwiz setup --yes: exit {code}; {total} remote commands counted here, sshd: {sshd}; "
          f"of them {sum(counter.repeats.values())} a polling loop's repeats (not in the counts below)")
    print("\nper step (host):")
    for key, count in sorted(counter.steps(names).items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d}  {key}")
    print("\nper step, function and program:")
    for (step, where, word), count in sorted(counter.per_function.items(), key=lambda kv: (kv[0][0], -kv[1])):
        print(f"  {count:4d}  {step:32s} {where:52s} {word}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
