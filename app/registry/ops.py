"""The registry after day one: what it holds, pruning, its users, its certificate.

The registry's HTTP API (regwiz's own client) says which tags exist, what they point to and how big
they are; the host (over SSH) says when each tag was pushed (the mtime of its link file, which only
filesystem storage keeps) and how many bytes the storage takes (``du -sb``). Space comes back only
from the registry's garbage collection, run in a one-off container while the serving registry's storage
is read-only inside its own mount namespace (pulls served throughout, pushes refused).
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator

from app import htpasswd, pki
from app.i18n import N_, _
from app.redact import Secret
from app.registry import config as regconfig
from app.registry.client import INDEX_MEDIA, MANIFEST_ACCEPT, RegistryClient, RegistryError
from app.registry.deploy import CONTAINER, HOST_DIR, DeployChoices, DeployDecision, DeployRegistryStep
from app.remote_files import FileChange
from app.steps import Plan, Step, StepContext
from app.transport import Command, Transport, TransportError, shell

CONFIG_PATH = f"{HOST_DIR}/config.yml"
HTPASSWD_PATH = f"{HOST_DIR}/auth/htpasswd"
CERT_PATH, KEY_PATH = f"{HOST_DIR}/certs/server.crt", f"{HOST_DIR}/certs/server.key"
#: Where distribution's filesystem driver keeps repositories, under its root directory.
REPOSITORIES = "docker/registry/v2/repositories"
#: Below this, a tag's share of the freed bytes is "about nothing": its manifest and config only.
ABOUT_NOTHING = 64 * 1024


class OpsError(Exception):
    """An operation that cannot be done as asked, worded for the user (exit code 1)."""


# --- what the registry holds ---------------------------------------------------------


@dataclass
class TagInfo:
    repository: str
    tag: str
    digest: str
    media_type: str
    size: int  # config and layers, as stored (compressed); for an index, over all its platforms
    blobs: dict[str, int] = field(default_factory=dict)  # every blob the tag holds -> its size
    pushed: float | None = None  # seconds since the epoch; None when the storage does not say

    @property
    def key(self) -> tuple[str, str]:
        return (self.repository, self.tag)

    def record(self) -> dict:
        return {"type": "tag", "repository": self.repository, "tag": self.tag, "digest": self.digest,
                "size": self.size, "pushed": iso_time(self.pushed), "media_type": self.media_type}


def iso_time(seconds: float | None) -> str | None:
    return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _descriptor(item: object, what: str) -> tuple[str, int]:
    if not isinstance(item, dict) or not isinstance(item.get("digest"), str):
        raise RegistryError(_("{what}: a descriptor without a digest").format(what=what))
    size = item.get("size")
    return item["digest"], size if isinstance(size, int) and not isinstance(size, bool) else 0


def manifest_blobs(body: bytes, what: str) -> tuple[str, dict[str, int], list[tuple[str, int]]]:
    """(media type, {config and layer digest: size}, [child manifests of an index]) of one manifest."""
    try:
        manifest = json.loads(body)
    except ValueError as exc:
        raise RegistryError(_("{what}: the manifest is not JSON").format(what=what)) from exc
    if not isinstance(manifest, dict):
        raise RegistryError(_("{what}: the manifest is not a JSON object").format(what=what))
    media = str(manifest.get("mediaType") or "")
    if media in INDEX_MEDIA or "manifests" in manifest:
        return media, {}, [_descriptor(m, what) for m in manifest.get("manifests") or []]
    blobs: dict[str, int] = {}
    if manifest.get("config") is not None:
        digest, size = _descriptor(manifest["config"], what)
        blobs[digest] = size
    for layer in manifest.get("layers") or []:
        digest, size = _descriptor(layer, what)
        blobs[digest] = size
    return media, blobs, []


def read_tag(client: RegistryClient, repository: str, tag: str) -> TagInfo:
    """One tag: its manifest's digest, and every blob it holds with the sizes its manifests state."""
    body, digest = client.get_manifest(repository, tag, accept=MANIFEST_ACCEPT)
    media, blobs, children = manifest_blobs(body, f"{repository}:{tag}")
    size = sum(blobs.values())
    held = {digest: len(body), **blobs}
    for child, child_size in children:  # an index: every platform's manifest, config and layers
        child_body, _headers = client.get_manifest(repository, child, accept=MANIFEST_ACCEPT)
        _media, child_blobs, _children = manifest_blobs(child_body, f"{repository}@{child}")
        held[child] = child_size or len(child_body)
        for blob, blob_size in child_blobs.items():
            if blob not in held:
                size += blob_size
            held[blob] = blob_size
    return TagInfo(repository, tag, digest, media, size, held)


def list_tags(client: RegistryClient, repository: str | None = None) -> list[TagInfo]:
    """Every tag of every repository (or of one), read a few at a time (each request costs the registry
    a bcrypt check)."""
    repositories = client.catalog() if repository is None else [repository]
    pairs = [(repo, tag) for repo in repositories for tag in sorted(client.tags_or_none(repo))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda pair: read_tag(client, *pair), pairs))


# --- what the host says --------------------------------------------------------------

_PUSHED = ('root="$1/' + REPOSITORIES + '"; [ -d "$root" ] || exit 0; '
           'cd "$root" && find . -path "*/_manifests/tags/*/current/link" -printf "%T@ %P\\n"')


async def pushed_times(transport: Transport, storage: str) -> dict[tuple[str, str], float]:
    """When each tag was last pushed: the mtime of its ``current/link`` file (rewritten by each push)."""
    result = await transport.run(shell(_PUSHED, storage), sudo=True)
    if not result.ok:
        raise TransportError(_("cannot read the push times under {storage}: {error}").format(
            storage=storage, error=result.stderr.strip()[-300:]))
    return parse_pushed(result.stdout)


def parse_pushed(text: str) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        stamp, _space, path = line.partition(" ")
        repo, sep, rest = path.partition("/_manifests/tags/")
        tag = rest.split("/", 1)[0]
        try:
            seconds = float(stamp)
        except ValueError:
            continue
        if sep and repo and tag:
            found[(repo, tag)] = seconds
    return found


async def storage_usage(transport: Transport, storage: str) -> int:
    """Bytes the storage directory takes on the host (apparent sizes, as ``du -sb`` counts them)."""
    result = await transport.run(Command("du", "-sb", "--", storage), sudo=True)
    first = result.stdout.split()[:1]
    if not result.ok or not first or not first[0].isdigit():
        raise TransportError(_("cannot measure {storage} on the host ({command} said: {output})").format(
            storage=storage, command="`du -sb`", output=(result.stderr or result.stdout).strip()[-200:]))
    return int(first[0])


async def attach_push_times(transport: Transport, storage: str | None, tags: list[TagInfo]) -> None:
    if storage is None:
        return
    times = await pushed_times(transport, storage)
    for info in tags:
        info.pushed = times.get(info.key)


# --- the prune plan ------------------------------------------------------------------


@dataclass
class PlannedTag:
    info: TagInfo
    frees: int  # what deleting it gives back, beyond what kept tags (and tags before it) hold
    note: str = ""


@dataclass
class PrunePlan:
    delete: list[PlannedTag]
    kept: list[TagInfo]
    spared: list[tuple[TagInfo, str]]  # chosen by the rule, but kept: deleting would touch a kept tag

    @property
    def freed_bytes(self) -> int:
        return sum(p.frees for p in self.delete)

    @property
    def manifests(self) -> list[tuple[str, str]]:
        """(repository, digest) to delete, each once: two tags of one manifest go with one delete."""
        return list(dict.fromkeys((p.info.repository, p.info.digest) for p in self.delete))


def plan_prune(tags: list[TagInfo], keep: int | None = None, older_than_days: float | None = None,
               repository: str | None = None, now: float | None = None) -> PrunePlan:
    """Which tags go: all but the ``keep`` newest of each repository, or those pushed over
    ``older_than_days`` ago. Tags outside ``repository`` are kept, and their blobs count as kept."""
    if (keep is None) == (older_than_days is None):
        raise ValueError("give exactly one of keep and older_than_days")
    now = time.time() if now is None else now
    scope = [t for t in tags if repository is None or t.repository == repository]
    unknown = [t for t in scope if t.pushed is None]
    if unknown:
        raise OpsError(_("the registry's storage does not say when {tag} was pushed (only filesystem storage on "
                         "the host keeps push times): nothing was pruned").format(
                             tag=f"{unknown[0].repository}:{unknown[0].tag}"))
    chosen: list[TagInfo] = []
    if keep is not None:
        by_repo: dict[str, list[TagInfo]] = {}
        for info in scope:
            by_repo.setdefault(info.repository, []).append(info)
        for infos in by_repo.values():
            # Newest first; the tag name breaks a tie so the same storage always plans the same.
            infos.sort(key=lambda t: (t.pushed or 0.0, t.tag), reverse=True)
            chosen += infos[keep:]
    else:
        cutoff = now - float(older_than_days or 0) * 86400
        chosen = [t for t in scope if (t.pushed or 0.0) < cutoff]
    return plan_chosen(tags, chosen)


def plan_chosen(tags: list[TagInfo], chosen: list[TagInfo]) -> PrunePlan:
    """The plan that deletes ``chosen`` (tags picked by hand, or by a rule) and keeps the rest."""
    chosen_keys = {t.key for t in chosen}
    kept = [t for t in tags if t.key not in chosen_keys]
    # A manifest is deleted by digest, and that removes every tag pointing at it: a chosen tag
    # sharing its manifest with a kept one must stay (distribution 2.8 cannot delete a tag alone).
    kept_manifests = {(t.repository, t.digest): t for t in kept}
    spared = [(t, _("it is the same manifest ({digest}) as the kept tag {tag}; deleting it would delete that tag "
                    "too").format(digest=t.digest,
                                  tag=f"{t.repository}:{kept_manifests[(t.repository, t.digest)].tag}"))
              for t in chosen if (t.repository, t.digest) in kept_manifests]
    spared_keys = {t.key for t, _why in spared}
    kept += [t for t, _why in spared]
    kept_blobs = {blob for t in kept for blob in t.blobs}
    counted: set[str] = set()
    delete: list[PlannedTag] = []
    for info in sorted((t for t in chosen if t.key not in spared_keys), key=lambda t: (t.repository, t.pushed or 0)):
        own = {b: s for b, s in info.blobs.items() if b not in kept_blobs and b not in counted}
        counted |= set(own)
        frees = sum(own.values())
        layers = [b for b in info.blobs if b != info.digest]
        note = ""
        if frees < ABOUT_NOTHING:
            shared = [b for b in layers if b in kept_blobs]
            note = (_("frees about nothing ({frees} bytes): {shared} of its {blobs} blobs are used by kept tags")
                    .format(frees=frees, shared=len(shared), blobs=len(layers)) if shared
                    else _("frees about nothing ({frees} bytes)").format(frees=frees))
        delete.append(PlannedTag(info, frees, note))
    return PrunePlan(delete, kept, spared)


# --- pushes held off, garbage collected ----------------------------------------------

#: The one-off container the collection runs in (the serving registry stays up).
GC_HELPER = "regwiz-gc"
GC_ARGS = ("garbage-collect", regconfig.CONTAINER_CONFIG_PATH)

#: Runs on the host, detached in a session of its own (setsid) and writing to a log file, so that it
#: finishes and undoes its read-only mount even when regwiz or its SSH connection goes away. Arguments:
#: container, storage mount point inside it, helper name, "remount" | "restart", the collection's args.
#: The serving registry's storage mount is made read-only in the registry's own mount namespace only
#: (a bind mount's flags are per mount: the host and the helper's own bind of the same directory stay
#: writable), so it keeps serving pulls while every write of a push fails; `registry garbage-collect`
#: runs in a helper container (same image, --volumes-from the registry) with the storage writable. The
#: EXIT trap removes the helper first, then makes the storage writable again; if that remount fails it
#: restarts the registry (a new container start is a new mount namespace: writable). "restart" is for a
#: config.yml with a blob descriptor cache, which would still list swept blobs (distribution#1803,
#: #2966, #4569): the restart empties it, and the fresh namespace is writable.
_GC_SCRIPT = r"""set -u
container=$1 data=$2 helper=$3 after=$4; shift 4
say() { echo "$(date -u +%H:%M:%S.%N | cut -c1-12) $*"; }
pid=$(docker inspect -f '{{.State.Pid}}' "$container" 2>/dev/null) || pid=0
[ "${pid:-0}" -gt 0 ] || { say "the container $container is not running: nothing done"; exit 3; }
image=$(docker inspect -f '{{.Image}}' "$container") || exit 3
mode() { awk -v d="$data" '$5 == d { split($6, o, ","); m = o[1] } END { print m }' "/proc/$pid/mountinfo"; }
[ -n "$(mode)" ] || { say "$data is not a mount of its own in $container: nothing done"; exit 3; }
if docker inspect "$helper" >/dev/null 2>&1; then
  say "a container named $helper exists (another garbage collection?): nothing done"; exit 5
fi
undo() {
  docker rm -f "$helper" >/dev/null 2>&1
  say "making the storage writable ($after)"
  if [ "$after" = restart ]; then
    say "restarting $container (its blob descriptor cache would still list swept blobs)"
    docker restart -t 10 "$container" >/dev/null && return
  elif mount -N "/proc/$pid/ns/mnt" -o remount,rw,bind "$data" && [ "$(mode)" = rw ]; then
    say "storage writable again in $container: pushes accepted"; return
  fi
  say "the storage could not be made writable in place: restarting $container"
  docker restart -t 10 "$container" >/dev/null
}
trap undo EXIT
trap 'exit 130' HUP INT TERM
# The kernel refuses (EBUSY) while a file is open for writing through the mount, i.e. while a push
# writes: try again until such a moment passes, for at most a minute.
tries=0
until mount -N "/proc/$pid/ns/mnt" -o remount,ro,bind "$data" 2>/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 1200 ]; then
    mount -N "/proc/$pid/ns/mnt" -o remount,ro,bind "$data"
    say "could not make $data read-only inside $container for a minute (pushes writing?): no garbage collection"
    exit 4
  fi
  sleep 0.05
done
[ "$tries" -eq 0 ] || say "read-only after $tries tries (the kernel waits for writes in progress)"
[ "$(mode)" = ro ] || { say "$data is not read-only inside $container: no garbage collection"; exit 4; }
say "storage read-only inside $container only (pulls served, pushes refused); collecting in $helper"
start=$(date +%s.%N)
docker run --rm --name "$helper" --network none --volumes-from "$container" --entrypoint /bin/registry "$image" "$@"
status=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
say "garbage collection exited $status after $took s"
exit $status
"""

#: Starts _GC_SCRIPT detached and follows its log until it ends; its exit status is the script's.
_GC_FOLLOW = r"""script=$1; shift
log=$(mktemp /tmp/regwiz-gc.XXXXXX) || exit 1
setsid -w sh -c "$script" regwiz-gc "$@" >"$log" 2>&1 </dev/null &
job=$!
tail -n +1 -s 0.2 --pid="$job" -f "$log"
wait "$job"; status=$?
rm -f "$log"
exit "$status"
"""


#: What _GC_SCRIPT needs on the host beyond docker: util-linux 2.33+ (Debian 10+) for ``mount -N`` and
#: ``setsid -w``. Checked while planning, before any manifest is deleted.
_GC_TOOLS = ('mount --help 2>&1 | grep -q -- --namespace && setsid --help 2>&1 | grep -q -- --wait '
             '&& command -v tail awk mktemp >/dev/null')


def blob_cache_enabled(config: str) -> bool:
    """Whether config.yml turns on a blob descriptor cache (``storage.cache.blobdescriptor``)."""
    return any(line.strip().startswith("blobdescriptor:") for line in config.splitlines())


async def registry_answers_on_host(transport: Transport, port: int, tls: bool, seconds: float = 30) -> bool:
    """The registry answers on the host itself (200 or 401 on /v2/) within ``seconds``."""
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/v2/"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = await transport.run(shell('curl -sk -o /dev/null -m 2 -w "%{http_code}" "$1"', url))
        if answer.stdout.strip() in ("200", "401"):
            return True
        await asyncio.sleep(0.05)
    return False


@dataclass
class PruneResult:
    deleted: list[TagInfo] = field(default_factory=list)
    usage_before: int | None = None
    usage_after: int | None = None
    collect_seconds: float | None = None  # pushes refused for this long (read-only, collection, back)
    restarted: bool = False  # a blob descriptor cache in config.yml needed a restart after the collection

    @property
    def freed_bytes(self) -> int | None:
        if self.usage_before is None or self.usage_after is None:
            return None
        return self.usage_before - self.usage_after


@dataclass(frozen=True)
class PruneDecision:
    """What a prune (or a delete of marked tags) does: the manifests of ``prune`` deleted, then the collection."""

    prune: PrunePlan
    #: config.yml turns on a blob descriptor cache: the registry is restarted after the collection.
    cached: bool


class PruneStep(Step):
    """Delete the planned manifests by digest, then garbage-collect with pushes held off.

    ``result`` is what apply measured (the storage before and after, the seconds pushes were held
    off); what it deletes is the plan's ``PruneDecision``, and ``applied_prune`` the prune applied."""

    title = N_("Prune the registry")

    def __init__(self, client: RegistryClient, storage: str | None, port: int, tls: bool, *,
                 keep: int | None = None, older_than_days: float | None = None, repository: str | None = None,
                 on_plan: Callable[[PrunePlan], None] | None = None) -> None:
        self.client, self.storage, self.port, self.tls = client, storage, port, tls
        self.keep, self.older_than_days, self.repository = keep, older_than_days, repository
        #: Told the prune once it is planned (the caller's report); it changes nothing of the step.
        self.on_plan = on_plan
        self.result = PruneResult()

    async def plan(self, ctx: StepContext) -> Plan:
        if self.storage is None:
            return Plan(_(self.title), refused=_("pruning needs the registry's storage on the host (filesystem "
                                              "storage): with OSS, neither push times nor the space used can be "
                                              "read"))
        config = await ctx.files.read(CONFIG_PATH)
        if config is None:
            return Plan(_(self.title), refused=_("{path} is missing on the host: deploy the registry first").format(
                path=CONFIG_PATH))
        if not regconfig.delete_enabled(config):
            return Plan(_(self.title), refused=_("the registry refuses deletes (storage.delete.enabled is not true in "
                                              "{path}): deploy it again with regwiz, which turns it on").format(
                                                  path=CONFIG_PATH))
        cached = blob_cache_enabled(config)
        if not (await ctx.transport.run(shell(_GC_TOOLS))).ok:
            return Plan(_(self.title), refused=_("the host lacks what the garbage collection needs (`mount -N` and "
                                              "`setsid -w`, util-linux 2.33 or later): nothing was deleted"))
        tags = await asyncio.to_thread(list_tags, self.client, None)
        await attach_push_times(ctx.transport, self.storage, tags)
        try:
            prune = self._choose(tags)
        except OpsError as exc:
            return Plan(_(self.title), refused=str(exc))
        if self.on_plan is not None:
            self.on_plan(prune)
        decision = PruneDecision(prune, cached)
        if not prune.delete:
            return Plan(_("no tag to prune"), decision=decision)
        actions = [_("delete {tag} ({digest}, {size} bytes; frees {frees} bytes{note})").format(
            tag=f"{p.info.repository}:{p.info.tag}", digest=p.info.digest, size=p.info.size, frees=p.frees,
            note="; " + p.note if p.note else "") for p in prune.delete]
        actions += [_("hold pushes off: the storage mount made read-only inside the registry's own mount namespace "
                      "(`mount -N`, from the host; no restart): pulls keep being served, pushes are refused"),
                    _("garbage-collect in a one-off container {helper} (same image and mounts, storage writable): "
                      "{command}").format(helper=GC_HELPER, command=f"registry {' '.join(GC_ARGS)}"),
                    _("the storage writable again (undone on the host even if regwiz or the connection goes away)")]
        if cached:
            actions.append(_("then a restart of the registry (pulls refused ~2 s): config.yml turns on the blob "
                             "descriptor cache, which would still list swept blobs; `regwiz deploy` drops it"))
        return Plan(_("prune {count} tags, about {bytes} bytes back").format(count=len(prune.delete),
                                                                             bytes=prune.freed_bytes),
                    actions=actions, decision=decision)

    def _choose(self, tags: list[TagInfo]) -> PrunePlan:
        return plan_prune(tags, self.keep, self.older_than_days, self.repository)

    @property
    def applied_prune(self) -> PrunePlan | None:
        """The prune of the plan applied (None before apply): what the measured result is set against."""
        decision = self.applied.decision if self.applied is not None else None
        return decision.prune if isinstance(decision, PruneDecision) else None

    def _decision(self) -> PruneDecision:
        assert self.applied is not None and isinstance(self.applied.decision, PruneDecision)
        return self.applied.decision

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, PruneDecision) and self.storage is not None
        prune = plan.decision.prune
        self.result = PruneResult()
        self.result.usage_before = await storage_usage(ctx.transport, self.storage)
        kept = {(t.repository, t.digest) for t in prune.kept}
        for repository, digest in prune.manifests:
            assert (repository, digest) not in kept  # plan_prune spares these; never delete a kept manifest
            ctx.emit.info(_("delete {manifest}").format(manifest=f"{repository}@{digest}"))
            try:
                await asyncio.to_thread(self.client.delete_manifest, repository, digest)
            except RegistryError as exc:
                if exc.status != 404:  # already gone (another prune): nothing to do
                    raise TransportError(_("deleting {manifest} failed: {error}").format(
                        manifest=f"{repository}@{digest}", error=exc)) from exc
        self.result.deleted = [p.info for p in prune.delete]
        await self._collect_garbage(ctx, plan.decision.cached)
        self.result.usage_after = await storage_usage(ctx.transport, self.storage)

    async def _collect_garbage(self, ctx: StepContext, cached: bool) -> None:
        after = "restart" if cached else "remount"
        ctx.emit.info(_("garbage collection: {container}'s storage read-only in its own mount namespace, {command} "
                        "in a one-off container {helper}, then {after}").format(
                            container=CONTAINER, command=f"`registry {' '.join(GC_ARGS)}`", helper=GC_HELPER,
                            after=_("a restart (blob descriptor cache)") if cached
                            else _("the storage writable again")))
        started = time.monotonic()
        result = await ctx.transport.run(
            shell(_GC_FOLLOW, _GC_SCRIPT, CONTAINER, regconfig.CONTAINER_DATA, GC_HELPER, after, *GC_ARGS),
            sudo=True, emit=ctx.emit)
        self.result.collect_seconds = time.monotonic() - started
        self.result.restarted = cached
        if cached and not await registry_answers_on_host(ctx.transport, self.port, self.tls):
            raise TransportError(_("the registry did not answer on port {port} within 30 s of its restart").format(
                port=self.port))
        if not result.ok:
            raise TransportError(_("the garbage collection failed (exit {status}): see its output above").format(
                status=result.exit_status))

    async def verify(self, ctx: StepContext) -> str | None:
        prune = self._decision().prune
        if not await registry_answers_on_host(ctx.transport, self.port, self.tls):
            return _("the registry does not answer after the garbage collection")
        for info in prune.kept:
            head = await asyncio.to_thread(self.client.head_manifest, info.repository, info.digest)
            if head is None:
                return _("the kept tag {tag} ({digest}) is gone").format(tag=f"{info.repository}:{info.tag}",
                                                                         digest=info.digest)
        for repository, digest in prune.manifests:
            if await asyncio.to_thread(self.client.head_manifest, repository, digest) is not None:
                return _("{manifest} is still there after its delete").format(manifest=f"{repository}@{digest}")
        return None

    async def rollback(self, ctx: StepContext) -> None:
        # Deleted manifests cannot come back. What can: no helper left, and a registry that answers with
        # its storage writable (a restart is a fresh mount namespace, and an empty blob cache).
        await ctx.transport.run(Command("docker", "rm", "-f", GC_HELPER), sudo=True, emit=ctx.emit)
        await ctx.transport.run(Command("docker", "restart", "-t", "10", CONTAINER), sudo=True, emit=ctx.emit)


class DeleteTagsStep(PruneStep):
    """The prune step for tags picked by hand: the same plan shape, deletes and garbage collection."""

    title = N_("Delete the marked tags")

    def __init__(self, client: RegistryClient, storage: str | None, port: int, tls: bool,
                 keys: list[tuple[str, str]], on_plan: Callable[[PrunePlan], None] | None = None) -> None:
        super().__init__(client, storage, port, tls, keep=1, on_plan=on_plan)
        self.keys = list(keys)

    def _choose(self, tags: list[TagInfo]) -> PrunePlan:
        by_key = {t.key: t for t in tags}
        missing = [k for k in self.keys if k not in by_key]
        if missing:  # listed on screen, gone since: say so rather than delete something else
            raise OpsError(_("{tag} is no longer in the registry: reload the list and mark again").format(
                tag=f"{missing[0][0]}:{missing[0][1]}"))
        return plan_chosen(tags, [by_key[k] for k in self.keys])


# --- the registry at a glance (the TUI's registry screen and dashboard) ---------------

#: The policy the dashboard prices: keep this many newest tags of each repository.
DEFAULT_KEEP = 10


@dataclass
class RegistrySource:
    """Everything the registry operations need: the HTTP client, and the storage on the host."""

    client: RegistryClient
    storage: str | None  # the host directory; None for OSS storage
    port: int
    tls: bool
    url: str = ""


def source_from_choices(choices: DeployChoices) -> RegistrySource:
    """The registry the wizard just deployed (the summary has these choices, not a profile)."""
    from app.registry.prove import client_target

    target = client_target(choices)
    storage = choices.settings.storage
    path = storage.host_path if isinstance(storage, regconfig.FilesystemStorage) else None
    return RegistrySource(RegistryClient(target.endpoint()), path, target.port, target.tls, target.url)


def tags_in_batches(client: RegistryClient, repository: str | None = None,
                    batch: int = 200) -> Iterator[list[TagInfo]]:
    """``list_tags`` a batch at a time, so that a screen can show the first tags while the rest load."""
    repositories = client.catalog() if repository is None else [repository]
    pairs = [(repo, tag) for repo in repositories for tag in sorted(client.tags_or_none(repo))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(pairs), batch):
            yield list(pool.map(lambda pair: read_tag(client, *pair), pairs[start:start + batch]))


async def free_space(transport: Transport, storage: str) -> int:
    """Bytes free on the filesystem holding the storage directory (``df``), for non-root users too."""
    result = await transport.run(Command("df", "-B1", "--output=avail", "--", storage), sudo=True)
    numbers = [word for word in result.stdout.split() if word.isdigit()]
    if not result.ok or not numbers:
        raise TransportError(_("cannot read the free space of {storage} on the host ({command} said: {output})")
                             .format(storage=storage, command="`df`",
                                     output=(result.stderr or result.stdout).strip()[-200:]))
    return int(numbers[-1])


@dataclass
class StorageFacts:
    used: int
    free: int
    tags: int
    default_frees: int  # what pruning by DEFAULT_KEEP would free
    default_deletes: int


async def storage_facts(source: RegistrySource, transport: Transport, keep: int = DEFAULT_KEEP) -> StorageFacts:
    """Used, free and what the default policy would give back (the dashboard's storage row)."""
    if source.storage is None:
        raise OpsError(_("the registry stores its blobs in OSS: there is no storage on the host to measure"))
    used = await storage_usage(transport, source.storage)
    free = await free_space(transport, source.storage)
    tags = await asyncio.to_thread(list_tags, source.client, None)
    await attach_push_times(transport, source.storage, tags)
    plan = plan_prune(tags, keep=keep)
    return StorageFacts(used, free, len(tags), plan.freed_bytes, len(plan.delete))


def human_size(size: int | None) -> str:
    """1000-based, as ``regwiz registry ls`` prints sizes."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


# --- users ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UsersDecision:
    """One user's change in htpasswd (the file itself is the plan's change; no password here)."""

    action: str  # "add", "rotate" or "remove"
    user: str
    #: verify logs in as the user (the client holds the new password): not after a remove.
    log_in: bool


class UsersStep(Step):
    """Add a user, change a password, or remove a user, in htpasswd alone: the registry re-reads it."""

    def __init__(self, action: str, name: str, password: Secret | None, client: RegistryClient) -> None:
        self.action, self.name, self.password, self.client = action, name, password, client
        self.title = {"add": _("Add the registry user {name}"), "rotate": _("Change the password of {name}"),
                      "remove": _("Remove the registry user {name}")}[action].format(name=name)

    async def plan(self, ctx: StepContext) -> Plan:
        old = await ctx.files.read(HTPASSWD_PATH)
        if old is None:
            return Plan(self.title, refused=_("{path} is missing: the registry has no htpasswd auth (deploy it "
                                              "with auth = \"htpasswd\")").format(path=HTPASSWD_PATH))
        try:
            if self.action == "remove":
                new_text = htpasswd.remove_user(old, self.name)
            else:
                assert self.password is not None
                change = htpasswd.add_user if self.action == "add" else htpasswd.set_password
                new_text = change(old, self.name, self.password.reveal())
        except htpasswd.HtpasswdError as exc:
            return Plan(self.title, refused=str(exc))
        decision = UsersDecision(self.action, self.name, log_in=self.action != "remove" and self.password is not None)
        return Plan(_("{step} (htpasswd only: the registry re-reads it, no restart)").format(step=self.title),
                    changes=[FileChange(HTPASSWD_PATH, old, new_text, mode=0o600, sensitive=True)],
                    decision=decision)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            await ctx.files.write(change)

    async def verify(self, ctx: StepContext) -> str | None:
        assert self.applied is not None and isinstance(self.applied.decision, UsersDecision)
        decision = self.applied.decision
        [written] = [c for c in self.applied.changes if c.path == HTPASSWD_PATH]
        now = await ctx.files.read(HTPASSWD_PATH)
        if now != written.new:
            return _("{path} does not hold what was written").format(path=HTPASSWD_PATH)
        if not decision.log_in:
            return None
        try:
            await asyncio.to_thread(self.client.login)
        except RegistryError as exc:
            return _("the registry does not accept {user}'s new password yet: {error}").format(user=decision.user,
                                                                                              error=exc)
        return None


# --- the certificate -----------------------------------------------------------------


def serial_of(cert_pem: str | bytes | None) -> int | None:
    if not cert_pem:
        return None
    from cryptography import x509

    data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    try:
        return x509.load_pem_x509_certificate(data).serial_number
    except ValueError:
        return None


@dataclass(frozen=True)
class RenewDecision(DeployDecision):
    """The deploy's decision, and the certificate's serial before and after (read from the plan's
    server.crt): what the served certificate is checked against once applied."""

    old_serial: int | None = None
    new_serial: int | None = None


class RenewCertificateStep(DeployRegistryStep):
    """The deploy step with a new certificate from the same CA: the container is recreated by the
    deploy's own safe path (the old one kept until the new one answers), and its label then matches,
    so a later deploy plans nothing. Users are left alone."""

    title = N_("Renew the registry's certificate")

    async def plan(self, ctx: StepContext) -> Plan:
        plan = await super().plan(ctx)
        if not isinstance(plan.decision, DeployDecision):
            return plan
        cert = next((c for c in plan.changes if c.path == CERT_PATH), None)
        old, new = (serial_of(cert.old), serial_of(cert.new)) if cert is not None else (None, None)
        return replace(plan, decision=RenewDecision(**asdict(plan.decision), old_serial=old, new_serial=new))

    @property
    def applied_serials(self) -> tuple[int | None, int | None]:
        """(old, new) serial of the plan applied; (None, None) before apply."""
        decision = self.applied.decision if self.applied is not None else None
        if isinstance(decision, RenewDecision):
            return decision.old_serial, decision.new_serial
        return None, None

    async def _certificate_files(self, ctx: StepContext, names: list[str]) -> list[FileChange]:
        old_cert, old_key = await ctx.files.read(CERT_PATH), await ctx.files.read(KEY_PATH)
        issued = pki.issue_server_certificate(pki.load_or_create_ca(), names)
        return [FileChange(CERT_PATH, old_cert, issued.cert_pem.decode(), mode=0o644),
                FileChange(KEY_PATH, old_key, issued.key_pem.decode(), mode=0o600, sensitive=True)]

    async def _htpasswd_file(self, ctx: StepContext) -> list[FileChange]:
        return []
