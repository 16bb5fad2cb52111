"""What Docker's choice means for the host: hidden routes, safe ranges, a picture of it all."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
import unicodedata

from app.i18n import N_, _

from app.netmodel.model import DaemonNetworkOptions, HostNetwork, Route
from app.netmodel.predict import BridgePrediction, pool_is_free
from app.netmodel.rules import CLOUD_RESERVED, candidate_pools, daemon_nameservers

# ---------------------------------------------------------------------------
# Routed networks that Docker hides
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shadowing:
    docker_subnet: IPv4Network
    owner: str  # "docker0" or the docker network's name
    route: Route
    message: str


def _routed(route: Route) -> bool:
    """A route through a gateway (or a reject route): not the link, not the host, not the default."""
    return not route.is_default and route.scope not in ("link", "host")


def _shadow_message(owner: str, subnet: IPv4Network, route: Route) -> str:
    if route.dest.supernet_of(subnet):
        return _(
            "{owner} ({subnet}) lies inside {route}: hosts of that routed network in {subnet} "
            "become unreachable from this server"
        ).format(owner=owner, subnet=subnet, route=route.describe())
    # The route is the more specific one, so it wins for its part of the subnet.
    return _(
        "{route} lies inside {owner} ({subnet}): containers given addresses in "
        "{dest} become unreachable from this server"
    ).format(route=route.describe(), owner=owner, subnet=subnet, dest=route.dest)


def find_shadowing(net: HostNetwork, bridge: IPv4Network | None) -> list[Shadowing]:
    """Every gateway route that overlaps docker0's subnet or an existing docker network.

    dockerd starts fine then (modern daemons ignore such routes), but the
    overlap hides part of the routed network: the silent Aliyun VPC conflict.
    """
    owned: list[tuple[str, IPv4Network]] = [("docker0", bridge)] if bridge is not None else []
    # The "bridge" network is docker0 itself: with a bridge given it is about to be replaced.
    owned += [(name, subnet) for name, subnet in net.docker_networks if bridge is None or name != "bridge"]
    return [
        Shadowing(subnet, owner, route, _shadow_message(owner, subnet, route))
        for owner, subnet in owned
        for route in net.routes
        if _routed(route) and route.dest.overlaps(subnet)
    ]


# ---------------------------------------------------------------------------
# Planning safe addresses
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressPlan:
    bip: IPv4Interface  # gateway address with prefix, e.g. 10.200.0.1/24 (NOT the network address: moby/moby#22638)
    pool_base: IPv4Network  # e.g. 10.201.0.0/16
    pool_size: int  # 24

    def daemon_json_values(self) -> dict[str, object]:
        """The daemon.json keys that apply this plan."""
        return {
            "bip": str(self.bip),
            "default-address-pools": [{"base": str(self.pool_base), "size": self.pool_size}],
        }


PLAN_POOL_SIZE = 24


def _plan_blocks() -> Iterator[IPv4Network]:
    """Blocks to try, best first: 10.200, 10.201, the rest of 10/8, 172.16/12, then 192.168/16 in /20s."""
    for second in [200, 201, *range(202, 256), *range(0, 200)]:
        yield IPv4Network(f"10.{second}.0.0/16")
    for second in range(16, 32):
        yield IPv4Network(f"172.{second}.0.0/16")
    # 192.168/16 holds no two /16s: fall back to /20s (still room for 16 /24 networks).
    yield from IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def _is_docker0_own(dev: str | None) -> bool:
    # docker0's own routes and address are what the plan replaces: ignoring them
    # makes planning again after the plan was applied give the same answer.
    return dev == "docker0"


def _taken_ranges(net: HostNetwork, avoid: Iterable[IPv4Network]) -> list[IPv4Network]:
    taken = [r.dest for r in net.routes if not r.is_default and not _is_docker0_own(r.dev)]
    taken += [a.interface.network for a in net.addresses if not _is_docker0_own(a.dev)]
    # Both resolv.conf files name real servers: whichever dockerd reads, none may be hidden.
    taken += [IPv4Network(server) for server in (*net.nameservers, *(net.resolved_nameservers or ()))]
    taken += [subnet for name, subnet in net.docker_networks if name != "bridge"]
    taken += [network for network, _why in CLOUD_RESERVED]
    taken += list(avoid)
    return taken


def plan_addresses(net: HostNetwork, avoid: Iterable[IPv4Network] = ()) -> AddressPlan:
    """A bip and a default-address-pool that overlap nothing this host uses.

    The first free block gives the bip (its first /24, gateway .1), the second
    free block is the pool (size 24). A block is free when it overlaps no
    route (any scope; the default route aside), interface network, nameserver,
    docker network other than "bridge", CLOUD_RESERVED range or ``avoid``.
    docker0's own routes and address do not count: the plan replaces them.
    """
    taken = _taken_ranges(net, avoid)
    free = (block for block in _plan_blocks() if not any(block.overlaps(used) for used in taken))
    first, second = next(free, None), next(free, None)
    if first is None or second is None:
        raise ValueError(_(
            "no two free address blocks left in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16: routes, "
            "addresses or nameservers cover them; choose bip and default-address-pools by hand"
        ))
    bip = IPv4Interface(f"{first.network_address + 1}/{PLAN_POOL_SIZE}")
    return AddressPlan(bip=bip, pool_base=second, pool_size=PLAN_POOL_SIZE)


# ---------------------------------------------------------------------------
# A plain-text picture of the address ranges
# ---------------------------------------------------------------------------

# The rows' keys, in English; each is shown translated (N_ marks them for the catalog).
ROW_LABELS = (
    N_("routes (link)"),
    N_("routes (via gw)"),
    N_("interfaces"),
    N_("nameservers"),
    N_("docker networks"),
    N_("docker pools"),
    N_("docker0 (predicted)"),
)
_HEX = "0123456789abcdef"
_MAX_TEN_WINDOWS = 2


@dataclass(frozen=True)
class _Block:
    area: IPv4Network
    cells: tuple[IPv4Network, ...]
    labels: tuple[str, ...]  # two characters at most, for wide cells
    wide_note: str  # how to read the wide labels
    narrow_note: str  # how to read the hex digits of narrow cells


def _fixed_blocks() -> list[_Block]:
    private172 = IPv4Network("172.16.0.0/12")
    private192 = IPv4Network("192.168.0.0/16")
    return [
        _Block(private172, tuple(private172.subnets(new_prefix=16)), tuple(str(16 + n) for n in range(16)),
               _("a cell per /16, 172.16 .. 172.31"), _("cell n = {network}").format(network="172.(16+n).0.0/16")),
        _Block(private192, tuple(private192.subnets(new_prefix=20)), tuple(_HEX),
               _("cell n = {network}").format(network="192.168.(16*n).0/20"),
               _("cell n = {network}").format(network="192.168.(16*n).0/20")),
    ]


def _ten_windows(items: list[IPv4Network]) -> list[_Block]:
    """The /12s of 10.0.0.0/8 where something is, in the order of items (docker's own first)."""
    ten = IPv4Network("10.0.0.0/8")
    windows: list[IPv4Network] = []
    for item in items:
        if item.overlaps(ten):
            start = max(item.network_address, ten.network_address)
            window = IPv4Network(f"{start}/12", strict=False)
            if window not in windows:
                windows.append(window)
    blocks = []
    for window in windows[:_MAX_TEN_WINDOWS]:
        first = window.network_address.packed[1]
        note = _("cell n = {network}").format(network=f"10.({first}+n).0.0/16")
        blocks.append(_Block(window, tuple(window.subnets(new_prefix=16)), tuple(_HEX), note, note))
    return blocks


def display_width(text: str) -> int:
    """The columns ``text`` takes in a terminal: wide (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
               for ch in text)


def _pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` display columns (ljust counts characters)."""
    return text + " " * max(0, width - display_width(text))


def _clip(text: str, width: int) -> str:
    """The longest start of ``text`` that takes at most ``width`` display columns."""
    if display_width(text) <= width:
        return text
    used = 0
    for index, ch in enumerate(text):
        used += display_width(ch)
        if used > width:
            return text[:index]
    return text


def _wrap(words: list[str], width: int, indent: str = "   ") -> list[str]:
    """Words joined by two spaces into lines of at most width display columns."""
    lines: list[str] = []
    line = ""
    for word in words:
        if line and display_width(line) + 2 + display_width(word) > width:
            lines.append(line)
            line = indent + word
        else:
            line = f"{line}  {word}" if line else word
    return lines + [line] if line else lines


def _row_items(net: HostNetwork, prediction: BridgePrediction) -> dict[str, list[IPv4Network]]:
    return {
        "routes (link)": [r.dest for r in net.routes if r.is_link_scope and not r.is_default],
        "routes (via gw)": [r.dest for r in net.routes if _routed(r)],
        "interfaces": [a.interface.network for a in net.addresses],
        "nameservers": [IPv4Network(server) for server in daemon_nameservers(net, prediction.rules)],
        "docker networks": [subnet for _name, subnet in net.docker_networks],
        "docker0 (predicted)": [prediction.subnet] if prediction.subnet is not None else [],
    }


def _cover_mark(cell: IPv4Network, items: list[IPv4Network]) -> str:
    if any(cell.subnet_of(item) for item in items):
        return "#"
    return "+" if any(cell.overlaps(item) for item in items) else "."


def _pool_mark(cell: IPv4Network, pools: list[IPv4Network], net: HostNetwork, prediction: BridgePrediction) -> str:
    inside = [pool for pool in pools if pool.overlaps(cell)]
    if not inside:
        return "."
    if prediction.source == "pool" and prediction.subnet in inside:
        return "*"
    free = any(pool_is_free(pool, net, prediction.rules) for pool in inside)
    return "o" if free else "x"


def _cells_text(marks: Iterable[str], cell_width: int) -> str:
    # Wide cells hold two-character labels ("16") and a space; narrow ones one character.
    if cell_width == 1:
        return "".join(marks)
    return "".join(mark.rjust(cell_width - 1) + " " for mark in marks)


def _block_lines(
    block: _Block, rows: dict[str, list[IPv4Network]], pool_row: list[str], cell_width: int, width: int,
    label_width: int,
) -> list[str]:
    wide = cell_width > 1
    labels = block.labels if wide else tuple(_HEX)
    title = [f"{block.area}:", block.wide_note if wide else block.narrow_note]
    lines = _wrap(title, width) + [" " * label_width + _cells_text(labels, cell_width)]
    for label in ROW_LABELS:
        marks = pool_row if label == "docker pools" else [_cover_mark(cell, rows[label]) for cell in block.cells]
        lines.append(_pad(_(label), label_width) + _cells_text(marks, cell_width))
    return lines


def _legend(width: int) -> list[str]:
    words = [_("legend:"), _("'#' covered"), _("'+' partly covered"), _("'.' nothing"),
             _("pools: 'x' skipped (overlap)"), _("'o' free"), _("'*' docker0's pick")]
    return _wrap(words, width)


def render_picture(
    net: HostNetwork, options: DaemonNetworkOptions, prediction: BridgePrediction, width: int = 72
) -> list[str]:
    """The address ranges side by side as plain text lines (each at most width display columns).

    Blocks for 172.16.0.0/12 (a cell per /16) and 192.168.0.0/16 (a cell per
    /20), plus 10.0.0.0/8 windows (a cell per /16) when something lies there.
    Rows are ROW_LABELS; the pools row marks each candidate pool skipped ('x'),
    free ('o') or taken by docker0 ('*').
    """
    rows = _row_items(net, prediction)
    pools = candidate_pools(options, prediction.rules)
    ten_items = [*rows["docker0 (predicted)"], *([options.bip.network] if options.bip else []), *pools[:1]]
    ten_items += [item for label, items in rows.items() for item in items if label != "docker0 (predicted)"]
    # The labels' column: as wide as the widest label in the language in use (by display columns), plus two.
    label_width = max(display_width(_(label)) for label in ROW_LABELS) + 2
    cell_width = 3 if label_width + 16 * 3 <= width else 1
    lines: list[str] = []
    for block in _fixed_blocks() + _ten_windows(ten_items):
        nearby = [pool for pool in pools if pool.overlaps(block.area)]  # configured pools can number thousands
        pool_row = [_pool_mark(cell, nearby, net, prediction) for cell in block.cells]
        if lines:
            lines.append("")
        lines += _block_lines(block, rows, pool_row, cell_width, width, label_width)
    lines += [""] + _legend(width)
    return [_clip(line.rstrip(), width) for line in lines]
