"""The floor of end to end and of fan-out: the least time any tool could take for the same end state on
the same hosts, through the same link.

For each host ONE OpenSSH command (the same key, host keys checked, through the same delay when there
is one) runs one shell script that does only the host-side work the end state needs; everything else is
made on this machine first, in the timed part as the tools do it, by the fastest means (the CA, the
server certificate and the htpasswd in this process with python's cryptography and bcrypt, as
benchmarks/ansible/files/make_secrets.py makes them for both baselines).

Registry host (an `ecs_conflict`): one tar, inlined in the script as base64, holds daemon.json (the
address ranges the Ansible playbook writes), the registry's certificate, key and htpasswd with the
playbook's modes, and the test image's blobs and links in the registry's storage layout (so the image is
there when the registry starts, with no push: the same repository, manifest and blobs a push leaves).
Then `systemctl restart docker` (as the playbook's handler), `docker load` of the registry image, which
`docker save` streams on the same command's stdin, tagged registry:2 as the playbook does, `docker run`
of the registry with TLS and htpasswd auth, and a wait until it answers 401.

Client (a `linux_client`), at the same time: the CA into certs.d, a wait until the registry answers, then
`docker login` (the password on stdin) and `docker pull` of the test image.

Each script prints a mark with the host's clock (this machine's: containers share the kernel's) after
each part: `@floor NAME EPOCH`; parse_marks and split read them back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import io
import json
import shlex
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from benchmarks.hosts import openssh_options

PORT = 5000
REPOSITORY, TAG = "floor/hello", "latest"
MARK = "@floor"
MARK_FN = f'm() {{ echo "{MARK} $1 $(date +%s.%N)"; }}'
WAIT_STEP_S = 0.02  # how often a script asks whether the registry answers
WAIT_TRIES = 1500  # 30 s
DAEMON_JSON = {"bip": "10.200.0.1/24", "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}]}
REGISTRY_RUN = ("docker run -d --name registry --restart=always -p 5000:5000"
                " -v /etc/docker-registry:/certs:ro -v /var/lib/registry:/var/lib/registry"
                " -e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt -e REGISTRY_HTTP_TLS_KEY=/certs/server.key"
                " -e REGISTRY_AUTH=htpasswd -e REGISTRY_AUTH_HTPASSWD_REALM=registry"
                " -e REGISTRY_AUTH_HTPASSWD_PATH=/certs/htpasswd registry:2")
# What each part of the floor's time is, from marks of the two scripts: (label, host, from, to).
SPLIT = (
    ("secrets (CA, certificate, htpasswd) here", "registry", "start", "secrets"),
    ("SSH login to the registry host", "registry", "secrets", "connected"),
    ("files (daemon.json, certs, htpasswd, image storage)", "registry", "connected", "files"),
    ("dockerd restart", "registry", "files", "dockerd"),
    ("image load (docker save streamed) and tag", "registry", "dockerd", "loaded"),
    ("registry start (docker run)", "registry", "loaded", "started"),
    ("until it answers", "registry", "started", "answers"),
    ("client: until it sees the registry", "client", "trusted", "registry_up"),
    ("client login", "client", "registry_up", "login"),
    ("client pull", "client", "login", "pulled"),
)


def _make_secrets_module() -> ModuleType:
    path = Path(__file__).resolve().parent / "ansible" / "files" / "make_secrets.py"
    spec = importlib.util.spec_from_file_location("benchmarks_make_secrets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_marks(text: str) -> dict[str, float]:
    """{"dockerd": 1764620000.12, ...} from the lines a script printed; other lines are ignored."""
    marks: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == MARK:
            try:
                marks[parts[1]] = float(parts[2])
            except ValueError:
                continue
    return marks


def split(marks: dict[str, dict[str, float]], parts: tuple[tuple[str, str, str, str], ...] = SPLIT
          ) -> list[tuple[str, float]]:
    """Seconds of each part whose two marks were seen (``marks``: host -> its marks, "start" included)."""
    out = []
    for label, host, begin, end in parts:
        got = marks.get(host, {})
        if begin in got and end in got:
            out.append((label, got[end] - got[begin]))
    return out


def split_note(parts: list[tuple[str, float]], total: float) -> str:
    return (f"the floor's {total:.2f} s: " + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in parts)
            + " (the client's own parts overlap the registry host's)")


def _tar(entries: list[tuple[str, bytes | None, int]]) -> bytes:
    """A tar of (path, content or None for a directory, mode), owned by root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, content, mode in entries:
            info = tarfile.TarInfo(path)
            info.mode, info.uid, info.gid, info.mtime = mode, 0, 0, int(time.time())
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def storage_entries(repository: str, tag: str, blobs: list[bytes], manifest: bytes
                    ) -> list[tuple[str, bytes | None, int]]:
    """The files distribution's filesystem driver keeps for an image pushed as REPOSITORY:TAG (its blobs
    and the manifest under blobs/, the repository's links to them), under /var/lib/registry."""
    root = "var/lib/registry/docker/registry/v2"
    repo = f"{root}/repositories/{repository}"
    entries: list[tuple[str, bytes | None, int]] = []
    for blob in [*blobs, manifest]:
        hexdigest = hashlib.sha256(blob).hexdigest()
        entries.append((f"{root}/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data", blob, 0o644))
    for blob in blobs:
        hexdigest = hashlib.sha256(blob).hexdigest()
        entries.append((f"{repo}/_layers/sha256/{hexdigest}/link", f"sha256:{hexdigest}".encode(), 0o644))
    digest = hashlib.sha256(manifest).hexdigest()
    link = f"sha256:{digest}".encode()
    entries += [(f"{repo}/_manifests/revisions/sha256/{digest}/link", link, 0o644),
                (f"{repo}/_manifests/tags/{tag}/current/link", link, 0o644),
                (f"{repo}/_manifests/tags/{tag}/index/sha256/{digest}/link", link, 0o644)]
    return entries


@dataclass
class Secrets:
    ca: bytes
    cert: bytes
    key: bytes
    htpasswd: bytes


def make_secrets(module: ModuleType, work: Path, address: str, user: str, password: str) -> Secrets:
    """The CA, the server certificate and the htpasswd line, made in this process (timed: the tools make
    theirs in their timed run) by make_secrets.py's ``make`` (``module``)."""
    out = work / "secrets"
    module.make(out, address, user, password)
    return Secrets(*((out / name).read_bytes() for name in ("ca.crt", "server.crt", "server.key", "htpasswd")))


def registry_script(secrets: Secrets, image: str) -> str:
    """The registry host's one command; its stdin is `docker save IMAGE`."""
    from app.registry.testimage import generate_test_image  # a tiny valid image (the one regwiz pushes)

    test = generate_test_image("floor")
    payload = _tar([
        ("etc/docker/daemon.json", (json.dumps(DAEMON_JSON, indent=2) + "\n").encode(), 0o644),
        ("etc/docker-registry", None, 0o700),
        ("etc/docker-registry/server.crt", secrets.cert, 0o644),
        ("etc/docker-registry/server.key", secrets.key, 0o600),
        ("etc/docker-registry/htpasswd", secrets.htpasswd, 0o600),
        *storage_entries(REPOSITORY, TAG, [test.layer, test.config], test.manifest),
    ])
    quoted = shlex.quote(image)
    return "\n".join([
        "set -e", MARK_FN, "m connected",
        f"printf %s {base64.b64encode(payload).decode()} | base64 -d | tar -C / -xf -", "m files",
        "systemctl restart docker </dev/null",
        # enabled at boot as the playbook does it; the links are all a boot reads (no daemon-reload)
        "systemctl is-enabled -q docker </dev/null || systemctl enable -q --no-reload docker </dev/null",
        "m dockerd",
        "docker load -q >/dev/null",  # stdin: the image
        f"docker tag {quoted} registry:2 </dev/null && docker rmi {quoted} >/dev/null </dev/null", "m loaded",
        f"{REGISTRY_RUN} >/dev/null </dev/null", "m started",
        _wait_until_answers("-k", f"https://127.0.0.1:{PORT}/v2/"), "m answers",
    ])


def _wait_until_answers(curl_flags: str, url: str) -> str:
    return (f'i=0; until [ "$(curl -s {curl_flags} -o /dev/null -w "%{{http_code}}" {url} </dev/null)" = 401 ]; do'
            f' i=$((i+1)); [ $i -lt {WAIT_TRIES} ] || {{ echo "the registry did not answer" >&2; exit 1; }};'
            f" sleep {WAIT_STEP_S}; done")


def client_script(ca: bytes, registry: str, user: str, image: str, gate: bool = False) -> str:
    """A client's one command: its stdin is the password (after a line "go" with ``gate``: the controller
    lets it log in and pull when its turn comes, at most so many clients at once)."""
    certs = f"/etc/docker/certs.d/{registry}"
    lines = ["set -e", MARK_FN, "m connected",
             f"mkdir -p {certs} && printf %s {shlex.quote(ca.decode())} > {certs}/ca.crt", "m trusted",
             _wait_until_answers(f"--cacert {certs}/ca.crt", f"https://{registry}/v2/"), "m registry_up"]
    if gate:
        lines += ["m ready", "read -r go"]
    lines += [f"docker login {registry} -u {shlex.quote(user)} --password-stdin >/dev/null", "m login",
              f"docker pull -q {shlex.quote(image)} >/dev/null </dev/null", "m pulled"]
    return "\n".join(lines)


def ssh_argv(options: list[str], address: str, script: str) -> list[str]:
    return ["ssh", *options, f"root@{address}", script]


@dataclass
class FloorRun:
    wall: float
    marks: dict[str, dict[str, float]] = field(default_factory=dict)

    def note(self) -> str:
        return split_note(split(self.marks), self.wall)


def end_to_end(server_address: str, client_address: str, key: Path, known: Path, image: str, user: str,
               password: str, work: Path) -> FloorRun:
    """The floor of end to end: both hosts' commands at once; wall time from before the secrets are made
    until both commands ended."""
    options = openssh_options(key, known)
    registry = f"{server_address}:{PORT}"
    module = _make_secrets_module()  # (imported before the clock, as a tool that is running already)
    started_epoch, started = time.time(), time.perf_counter()
    secrets = make_secrets(module, work, server_address, user, password)
    secrets_made = time.time()
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    server = subprocess.Popen(ssh_argv(options, server_address, registry_script(secrets, image)),
                              stdin=save.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert save.stdout is not None
    save.stdout.close()
    client = subprocess.Popen(ssh_argv(options, client_address,
                                       client_script(secrets.ca, registry, user, f"{registry}/{REPOSITORY}:{TAG}")),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    client_out, client_err = client.communicate(password.encode(), timeout=600)
    server_out, server_err = server.communicate(timeout=600)
    save_err = save.communicate(timeout=60)[1]
    wall = time.perf_counter() - started
    for name, proc, err in (("the registry host's script", server, server_err),
                            ("the client's script", client, client_err), ("docker save", save, save_err)):
        if proc.returncode != 0:
            raise RuntimeError(f"floor: {name} failed (exit {proc.returncode}): {err.decode()[-1500:]}")
    marks = {"registry": {"start": started_epoch, "secrets": secrets_made, **parse_marks(server_out.decode())},
             "client": {"start": started_epoch, **parse_marks(client_out.decode())}}
    print(f"[bench] floor: {wall:.1f} s", file=sys.stderr, flush=True)
    return FloorRun(wall, marks)


async def _fan_out(options: list[str], addresses: list[str], script: str, password: str, at_once: int
                   ) -> list[dict[str, float]]:
    gate = asyncio.Semaphore(at_once)

    async def one(address: str) -> dict[str, float]:
        proc = await asyncio.create_subprocess_exec(*ssh_argv(options, address, script), stdin=subprocess.PIPE,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        lines: list[str] = []
        holding = False
        try:
            while raw := await proc.stdout.readline():
                line = raw.decode()
                lines.append(line)
                if line.startswith(f"{MARK} ready "):
                    await gate.acquire()
                    holding = True
                    proc.stdin.write(f"go\n{password}\n".encode())
                    await proc.stdin.drain()
                    proc.stdin.close()
                elif line.startswith(f"{MARK} pulled ") and holding:
                    gate.release()
                    holding = False
            err = await proc.stderr.read()
            if await proc.wait() != 0:
                raise RuntimeError(f"floor: {address}'s script failed (exit {proc.returncode}): {err.decode()[-800:]}")
        finally:
            if holding:
                gate.release()
        return parse_marks("".join(lines))

    return list(await asyncio.gather(*(one(a) for a in addresses)))


def fan_out(addresses: list[str], key: Path, known: Path, ca: bytes, registry: str, user: str, image: str,
            password: str, at_once: int = 8) -> tuple[float, list[dict[str, float]]]:
    """The floor of fan-out: one command per client, all at once, logins and pulls at most ``at_once`` at a
    time (the controller says when: one line on the command's stdin). Wall seconds and each client's marks."""
    script = client_script(ca, registry, user, image, gate=True)
    started = time.perf_counter()
    marks = asyncio.run(_fan_out(openssh_options(key, known), addresses, script, password, at_once))
    return time.perf_counter() - started, marks
