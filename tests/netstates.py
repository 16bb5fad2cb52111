"""Host network states for the differential test (tests/test_differential_testbed.py).

A seeded generator of what decides docker0's subnet: link and gateway routes
over parts of the default pools (0.0.0.0/x link routes too), nameservers
direct or behind systemd-resolved's stub, daemon.json's bip, fixed-cidr and
default-address-pools (in any order), a docker0 that already has an address,
and an earlier start that left a remembered subnet and user networks behind.
The same seed gives the same states; every state describes itself in one line,
so a mismatch names what was on the host.

Every address stays out of 10.213.0.0/16 (the testbed's own network) so no
state cuts the test off from its host.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from ipaddress import IPv4Network

#: Where no state may put anything: the testbed network the tests reach hosts through.
TESTBED_RANGE = IPv4Network("10.213.0.0/16")


@dataclass(frozen=True)
class EarlierStart:
    """A dockerd start before the state's own: what it leaves in local-kv.db (and maybe on the links)."""

    daemon: dict[str, object]  # daemon.json of that start
    networks: tuple[str | None, ...] = ()  # `docker network create`: a subnet, or None (from the pools)
    keep_links: bool = True  # docker0 and br-* left as dockerd leaves them; False: as after a reboot

    def describe(self) -> str:
        nets = ", ".join(n or "auto" for n in self.networks) or "no user networks"
        return (f"earlier start with {json.dumps(self.daemon, sort_keys=True)} ({nets}; "
                f"{'links kept' if self.keep_links else 'links gone, as after a reboot'})")


@dataclass(frozen=True)
class NetState:
    """One host network state; apply it to a clean host, then ask regwiz and dockerd."""

    number: int
    link_routes: tuple[str, ...] = ()
    gateway_routes: tuple[str, ...] = ()
    nameservers: tuple[str, ...] = ()  # /etc/resolv.conf, when not behind the stub
    resolved: tuple[str, ...] | None = None  # the stub layout: these in /run/systemd/resolve/resolv.conf
    daemon: dict[str, object] = field(default_factory=dict)  # daemon.json of the start compared
    docker0: str | None = None  # an address docker0 has before dockerd starts (no earlier start)
    earlier: EarlierStart | None = None

    @property
    def name(self) -> str:
        return f"state {self.number}"

    def describe(self) -> str:
        parts = [f"link {r}" for r in self.link_routes] + [f"via-gw {r}" for r in self.gateway_routes]
        if self.resolved is not None:
            parts.append(f"resolv.conf 127.0.0.53 -> resolved {', '.join(self.resolved) or '(none)'}")
        elif self.nameservers:
            parts.append(f"nameservers {', '.join(self.nameservers)}")
        if self.docker0:
            parts.append(f"docker0 {self.docker0}")
        if self.earlier:
            parts.append(self.earlier.describe())
        parts.append(f"daemon.json {json.dumps(self.daemon, sort_keys=True)}" if self.daemon else "no daemon.json")
        return f"{self.name}: " + "; ".join(parts)


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------

_ALL_POOLS = ("172.16.0.0/12", "192.168.0.0/16")


def _pool_part(rng: random.Random) -> str:
    """A part of the default pools: a whole /12, a few /16s, a /20 of 192.168, a /24 inside one."""
    kind = rng.choice(["16", "16", "13", "12", "20", "18", "24", "192-16", "14"])
    second = rng.randrange(17, 32)
    if kind == "16":
        return f"172.{second}.0.0/16"
    if kind == "13":
        return rng.choice(["172.16.0.0/13", "172.24.0.0/13"])
    if kind == "14":
        return f"172.{rng.choice([16, 20, 24, 28])}.0.0/14"
    if kind == "12":
        return "172.16.0.0/12"
    if kind == "20":
        return f"192.168.{16 * rng.randrange(16)}.0/20"
    if kind == "18":
        return f"192.168.{64 * rng.randrange(4)}.0/18"
    if kind == "24":
        return f"172.{second}.{rng.randrange(256)}.0/24"
    return "192.168.0.0/16"


def _ten_block(rng: random.Random, prefix: int = 16) -> IPv4Network:
    """A block of 10/8 outside the testbed's 10.213/16."""
    while True:
        second = rng.randrange(0, 256)
        block = IPv4Network(f"10.{second}.0.0/16")
        if not block.overlaps(TESTBED_RANGE):
            return next(block.subnets(new_prefix=prefix)) if prefix > 16 else block


def _pools(rng: random.Random, low: bool = False) -> list[dict[str, object]]:
    """1-3 default-address-pools entries, in a random order (27+ sorts them, earlier keep it)."""
    menu: list[tuple[str, int]] = [
        (str(_ten_block(rng)), 24), (str(_ten_block(rng)), 20), (str(_ten_block(rng, 20)), 24),
        ("172.20.0.0/14", 16), ("172.18.0.0/16", 24), ("192.168.0.0/16", 20), ("192.168.128.0/18", 24),
        (str(_ten_block(rng, 24)), 26),
    ]
    if low:  # below 128.0.0.0, where a 0.0.0.0/x link route lies
        menu = [entry for entry in menu if entry[0].startswith("10.")]
    chosen = rng.sample(menu, rng.choice([1, 1, 2, 2, 3]))
    return [{"base": base, "size": size} for base, size in chosen]


def _address_in(network: IPv4Network, rng: random.Random, prefix: int) -> str:
    """A gateway-like address (.1 of a random subnet of this prefix) inside network."""
    subnets = list(network.subnets(new_prefix=prefix)) if prefix - network.prefixlen <= 8 else \
        [next(network.subnets(new_prefix=prefix))]
    subnet = rng.choice(subnets)
    return f"{subnet.network_address + 1}/{prefix}"


def _bip(rng: random.Random) -> str:
    where = rng.choice(["ten", "ten", "pool", "pool-16"])
    if where == "ten":
        return _address_in(_ten_block(rng), rng, rng.choice([24, 24, 20]))
    if where == "pool":
        return _address_in(IPv4Network(f"172.{rng.randrange(17, 32)}.0.0/16"), rng, 24)
    return f"172.{rng.randrange(17, 32)}.0.1/16"


def _nameserver(rng: random.Random) -> str:
    return rng.choice([
        f"172.{rng.randrange(17, 32)}.0.{rng.randrange(2, 250)}",
        f"172.{rng.randrange(17, 32)}.{rng.randrange(256)}.53",
        f"192.168.{rng.randrange(256)}.{rng.randrange(2, 250)}",
        f"10.{rng.choice([20, 50, 99])}.0.53",
        "100.100.2.136",
    ])


def _routes(rng: random.Random, state: dict[str, object]) -> None:
    link: list[str] = []
    gateway: list[str] = []
    if rng.random() < 0.25:  # the Aliyun case: every default pool under a route
        link += _ALL_POOLS if rng.random() < 0.7 else [_ALL_POOLS[0]]
        if len(link) == 1:
            gateway.append(_ALL_POOLS[1])
    for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
        (link if rng.random() < 0.6 else gateway).append(_pool_part(rng))
    state["link_routes"], state["gateway_routes"] = link, gateway


def generate(seed: int, count: int) -> list[NetState]:
    """count states from seed: the same seed and count give the same states."""
    rng = random.Random(seed)
    return [_one(rng, number) for number in range(1, count + 1)]


def _one(rng: random.Random, number: int) -> NetState:
    fields: dict[str, object] = {}
    _routes(rng, fields)
    link = list(fields["link_routes"])  # type: ignore[call-overload]
    daemon: dict[str, object] = {}
    unspecified = rng.random() < 0.12
    if unspecified:
        # A 0.0.0.0/x link route counts before 27.5 only: it matters where pools lie below 128.0.0.0.
        link.append(rng.choice(["0.0.0.0/1", "0.0.0.0/2", "0.0.0.0/4"]))
        daemon["default-address-pools"] = _pools(rng, low=True)
    elif rng.random() < 0.35:
        daemon["default-address-pools"] = _pools(rng)
    # Unique routes in a random order: the order of `ip route add` must not matter.
    fields["link_routes"] = tuple(dict.fromkeys(link))
    fields["gateway_routes"] = tuple(r for r in dict.fromkeys(fields["gateway_routes"])  # type: ignore[call-overload]
                                     if r not in fields["link_routes"])  # type: ignore[operator]
    roll = rng.random()
    if roll < 0.25:
        fields["nameservers"] = tuple(dict.fromkeys(_nameserver(rng) for _ in range(rng.choice([1, 2]))))
    elif roll < 0.5:
        fields["resolved"] = tuple(dict.fromkeys(_nameserver(rng) for _ in range(rng.choice([0, 1, 2]))))
    if rng.random() < 0.25:
        daemon["bip"] = _bip(rng)
    if rng.random() < 0.18:
        daemon["fixed-cidr"] = _fixed_cidr(rng, daemon.get("bip"))
    roll = rng.random()
    if roll < 0.15:
        fields["docker0"] = _bip(rng)
        if "fixed-cidr" in daemon and rng.random() < 0.5:
            # fixed-cidr inside docker0's own address, as a careful admin would set it
            net = IPv4Network(str(fields["docker0"]), strict=False)
            daemon["fixed-cidr"] = str(next(net.subnets(new_prefix=min(net.prefixlen + 2, 28))))
    elif roll < 0.45:
        fields["earlier"] = _earlier(rng)
    fields["daemon"] = {key: daemon[key] for key in rng.sample(sorted(daemon), len(daemon))}
    return NetState(number, **fields)  # type: ignore[arg-type]


def _fixed_cidr(rng: random.Random, bip: object) -> str:
    if isinstance(bip, str) and rng.random() < 0.7:
        net = IPv4Network(bip, strict=False)
        return str(next(net.subnets(new_prefix=min(net.prefixlen + 1, 28))))
    return rng.choice([str(_ten_block(rng, 24)), f"172.{rng.randrange(17, 32)}.0.0/24",
                       f"172.{rng.randrange(17, 32)}.0.0/16"])


def _earlier(rng: random.Random) -> EarlierStart:
    daemon: dict[str, object] = {}
    roll = rng.random()
    if roll < 0.3:
        daemon["bip"] = _bip(rng)
    elif roll < 0.5:
        daemon["default-address-pools"] = _pools(rng)
    bip = IPv4Network(str(daemon["bip"]), strict=False) if "bip" in daemon else IPv4Network("172.17.0.0/16")
    # docker0 of that start comes from its pools: keep explicit subnets off them all
    taken = [str(pool["base"]) for pool in daemon.get("default-address-pools", [])]  # type: ignore[attr-defined]
    networks: list[str | None] = []
    for _ in range(rng.choice([0, 1, 1, 2])):
        subnet = rng.choice([None, f"172.{rng.randrange(18, 32)}.0.0/16",
                             f"192.168.{16 * rng.randrange(16)}.0/20", str(_ten_block(rng, 24))])
        # dockerd refuses a subnet that overlaps docker0's or another network's
        if subnet is None or not any(IPv4Network(subnet).overlaps(IPv4Network(other))
                                     for other in [str(bip), *taken, *filter(None, networks)]):
            networks.append(subnet)
    return EarlierStart(daemon, tuple(networks), rng.random() < 0.6)
