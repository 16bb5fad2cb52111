"""A client kind: how it is detected, what makes it trust the registry, its tool, sudo and proof.

One class per kind, one module per kind in this package, each registered with
``@register``. Every module of the package is loaded the first time the kinds
are asked for, so the kinds list, the detection order and the kinds a profile
may name all come from the registered classes: a new kind is one new module.

``ClientKind`` keeps the calls of the Enum it replaced: ``ClientKind("linux")``
looks a kind up (ValueError for none), ``ClientKind.LINUX`` too, and iterating
gives the registered kinds in their order.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

from app.clients.facts import ClientFacts
from app.i18n import N_, _

if TYPE_CHECKING:
    from app.clients.model import RegistryTarget
    from app.events import ScopedEmitter
    from app.steps import Plan, Step
    from app.transport import Transport

# Detection: the heaviest sign that holds decides (equal weights: the kind with the lower order).
# The system itself (macOS, Windows, boot2docker) outweighs what runs, and what runs what is only
# installed. A kind places its signs on this scale, e.g. RUNS + 250 between dockerd and CRI-O.
SYSTEM = 3000
RUNS = 2000
INSTALLED = 1000


@dataclass(frozen=True)
class Sign:
    """One way the probe's facts show a kind, and what it weighs against the other kinds' signs."""

    weight: int
    says: str  # in English: "dockerd runs under systemd" (marked with N_; see ``worded`` for names in it)
    holds: Callable[[ClientFacts], bool]
    #: The words with placeholders for the names and paths in them (``says`` filled in), and their values:
    #: the catalog's entry is the template, so a translation can put the path where its language wants it.
    template: str = ""
    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def worded(cls, weight: int, template: str, holds: Callable[[ClientFacts], bool], **values: str) -> Sign:
        """A sign whose words name a path or a name: ``template`` (marked with N_) and its values."""
        return cls(weight, template.format(**values), holds, template, tuple(values.items()))

    @property
    def said(self) -> str:
        """The sign's words in the language in use."""
        return _(self.template).format(**dict(self.values)) if self.template else _(self.says)


@dataclass(frozen=True)
class Proof:
    seconds: float
    message: str  # for the client's result: "pulled HOST:PORT/regwiz/hello:latest in 1.2 s"


class _Kinds(type):
    """ClientKind's class-level calls, those of the Enum it replaced (see the module's docstring)."""

    def __getattr__(cls, attr: str) -> ClientKind:
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", attr):
            try:
                return kind_named(attr.lower())
            except ValueError:
                pass
        raise AttributeError(attr)

    def __iter__(cls) -> Iterator[ClientKind]:
        return iter(all_kinds())


class ClientKind(metaclass=_Kinds):
    """A kind of client machine. Subclass it in a module of this package and ``@register`` it."""

    name: str = ""  # as profiles, the CLI and the screens spell it
    label: str = ""  # for people: "systemd Linux" (marked with N_ where it has words to translate)
    order: int = 1000  # where it is listed (and wins detection ties): lower first
    tool: str = "docker"  # the CLI that logs in and pulls
    sudo: bool = True  # whether the tool (and the trust change) needs root
    # What the probe looks for on its behalf (names without spaces):
    binaries: tuple[str, ...] = ()
    daemons: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    os_release_words: tuple[str, ...] = ()
    refusal: str | None = None  # why a client of this kind cannot be configured, if it cannot

    def __new__(cls, name: str | None = None) -> Any:
        if name is not None:
            return kind_named(name)  # the Enum's ClientKind("linux"): the registered kind
        return super().__new__(cls)

    @property
    def value(self) -> str:
        """The Enum's spelling of the name, kept for its callers."""
        return self.name

    @property
    def said_label(self) -> str:
        """The label in the language in use."""
        return _(self.label) if self.label else self.name

    def __repr__(self) -> str:
        return f"ClientKind.{self.name.upper()}"

    def __copy__(self) -> ClientKind:
        return self  # one object per kind: `is` compares kinds

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientKind:
        return self

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return kind_named, (self.name,)

    def signs(self) -> Sequence[Sign]:
        """How the probe's facts show this kind (none: it is only ever chosen by hand)."""
        return ()

    def steps(self, registry: RegistryTarget) -> list[Step]:
        """The steps that make a client of this kind trust the registry."""
        return []

    async def login(self, transport: Transport, registry: RegistryTarget, emit: ScopedEmitter,
                    address: str | None = None) -> None:
        """`TOOL login` with the password on stdin (never on the command line)."""
        from app.transport import Command

        from app.transport import CommandFailed

        if not registry.username or registry.password is None:
            return
        command = Command(self.tool, "login", address or registry.address, "-u", registry.username,
                          "--password-stdin")
        for attempt in (1, 2):
            result = await transport.run(command, sudo=self.sudo, stdin=registry.password.reveal().encode(),
                                         emit=emit, timeout=60)
            if result.ok:
                return
            said = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
            if attempt == 1 and login_timed_out(result.stderr + result.stdout):
                # The daemon gave up waiting for the registry (a busy registry checking many logins):
                # once more, said so. A refused password is never tried again.
                emit.warning(f"the registry did not answer the login in time ({' '.join(said)}): trying once more")
                continue
            raise CommandFailed(result)

    async def prove(self, transport: Transport, registry: RegistryTarget, emit: ScopedEmitter,
                    plans: Sequence[Plan] = (), address: str | None = None) -> Proof:
        """Pull the test image on the client (after the steps ran and the login)."""
        from app.clients.errors import explain_pull_error
        from app.transport import Command, TransportError

        ref = registry.image_ref(address)
        await transport.run(Command(self.tool, "rmi", "-f", ref), sudo=self.sudo)
        started = time.monotonic()
        result = await transport.run(Command(self.tool, "pull", ref), sudo=self.sudo, emit=emit, timeout=600)
        seconds = time.monotonic() - started
        if not result.ok:
            text = result.stderr + result.stdout
            why = explain_pull_error(text, address or registry.address)
            detail = _("{cause}; fix: {fix}").format(cause=why.cause, fix=why.fix) if why \
                else text.strip().splitlines()[-1:]
            raise TransportError(_("the pull failed: {detail}").format(detail=detail))
        return Proof(seconds, _("pulled {image} in {seconds:.1f} s").format(image=registry.image_ref(),
                                                                            seconds=seconds))


#: What docker and podman print when the daemon's request to the registry timed out (moby's login
#: gives up with Go's "context deadline exceeded" / "Client.Timeout exceeded"), and what says the
#: registry answered and refused (never retried).
_LOGIN_TIMED_OUT = re.compile(r"context deadline exceeded|Client\.Timeout exceeded|i/o timeout|TLS handshake timeout",
                              re.I)
_LOGIN_REFUSED = re.compile(r"unauthorized|401|incorrect username or password|authentication required", re.I)


def login_timed_out(text: str) -> bool:
    """Whether a failed login's output says it timed out waiting for the registry (and not that it refused)."""
    return bool(_LOGIN_TIMED_OUT.search(text)) and not _LOGIN_REFUSED.search(text)


class UnknownKind(ClientKind):
    """What detection says when no sign holds: nothing to configure."""

    name = "unknown"
    refusal = N_("no Docker, containerd or podman found: install a container runtime first")


UNKNOWN = UnknownKind()

# -- the registry -------------------------------------------------------------------------

_registered: dict[str, ClientKind] = {}
_loaded = False
_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_WORD = re.compile(r"[A-Za-z0-9_./+-]+")  # safe in the probe's shell words and `case` patterns

K = TypeVar("K", bound=type[ClientKind])


def register(cls: K) -> K:
    """Class decorator: one instance of ``cls`` becomes a kind (its name must be new)."""
    kind = cls()
    if not _NAME.fullmatch(kind.name) or kind.name in ("auto", "local", "detect", UNKNOWN.name):
        raise ValueError(f"a client kind's name must be a new lower-case word, not {kind.name!r}")
    if kind.name in _registered:
        raise ValueError(f"a client kind named {kind.name!r} is registered already")
    for word in (*kind.binaries, *kind.daemons, *kind.files, *kind.os_release_words):
        if not _WORD.fullmatch(word):
            raise ValueError(f"{kind.name}: {word!r} cannot go into the probe (letters, digits, _./+- only)")
    _registered[kind.name] = kind
    return cls


def unregister(name: str) -> None:
    """Drop a kind (tests that registered one of their own)."""
    _registered.pop(name, None)


def _load() -> None:
    """Import every module of this package once: each registers its kinds."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module(__package__ or "app.clients.kinds")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def all_kinds() -> list[ClientKind]:
    """The registered kinds, in their order (UNKNOWN is not one)."""
    _load()
    return sorted(_registered.values(), key=lambda k: (k.order, k.name))


def kind_names() -> list[str]:
    return [kind.name for kind in all_kinds()]


def kind_named(name: str) -> ClientKind:
    _load()
    if name == UNKNOWN.name:
        return UNKNOWN
    try:
        return _registered[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a client kind (known: {', '.join(kind_names())})") from None


def profile_kind_names() -> tuple[str, ...]:
    """What a profile's client `kind` may say: "auto" (detect), every kind, "local" (this machine, detected)."""
    return ("auto", *kind_names(), "local")


def detection_order() -> list[tuple[Sign, ClientKind]]:
    """Every kind's signs, the heaviest first: the first that holds decides."""
    ranked = [(sign, kind) for kind in all_kinds() for sign in kind.signs()]
    return sorted(ranked, key=lambda pair: (-pair[0].weight, pair[1].order, pair[1].name))


def detect_kind(facts: ClientFacts) -> tuple[ClientKind, Sign | None]:
    """The kind the facts show, and the sign that showed it (UNKNOWN, None: no sign holds)."""
    for sign, kind in detection_order():
        if sign.holds(facts):
            return kind, sign
    return UNKNOWN, None


def probe_wants() -> dict[str, tuple[str, ...]]:
    """What the probe must look for: every kind's binaries, daemons, files and os-release words."""
    kinds = all_kinds()

    def union(attr: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(word for kind in kinds for word in getattr(kind, attr)))

    return {"binaries": union("binaries"), "daemons": union("daemons"), "files": union("files"),
            "os_release_words": union("os_release_words")}
