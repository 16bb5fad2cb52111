"""docker0's subnet by full Docker version, one case per rule read from moby's source.

Most of these versions cannot run here, so each case names the tag and the file
its rule comes from: facts in (routes, addresses, nameservers, options, version),
prediction out.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from app.netmodel import (
    DEFAULT_POOLS,
    DaemonNetworkOptions,
    HostNetwork,
    configured_pools,
    parse_daemon_options,
    parse_docker_version,
    parse_ip_routes,
    predict_bridge,
    rules_for,
)

N = IPv4Network

ALL_GW = "default via 10.213.0.1 dev eth0\n172.16.0.0/12 via 10.213.0.1 dev eth0\n192.168.0.0/16 via 10.213.0.1 dev eth0\n"
ALL_LINK = "default via 10.213.0.1 dev eth0\n172.16.0.0/12 dev eth0 scope link\n192.168.0.0/16 dev eth0 scope link\n"


def host(routes: str = "", nameservers: tuple[str, ...] = (), docker0: str | None = None,
         networks: tuple[tuple[str, str], ...] = (), resolved: tuple[str, ...] | None = None) -> HostNetwork:
    return HostNetwork(
        tuple(parse_ip_routes(routes)), (), tuple(IPv4Address(n) for n in nameservers),
        tuple((name, N(subnet)) for name, subnet in networks),
        IPv4Interface(docker0) if docker0 else None,
        tuple(IPv4Address(n) for n in resolved) if resolved is not None else None,
        nameservers == ("127.0.0.53",),
    )


def pools(*entries: tuple[str, int]) -> tuple[tuple[IPv4Network, int], ...]:
    return tuple((N(base), size) for base, size in entries)


def subnet_of(net: HostNetwork, options: DaemonNetworkOptions, version: str) -> tuple[str | None, str]:
    prediction = predict_bridge(net, options, version)
    return (str(prediction.subnet) if prediction.subnet else None), prediction.source


CASES = [
    # --- Docker 1.6-1.8: their own pool lists, every route counts -----------------------------
    # moby v1.6.2 daemon/networkdriver/bridge/driver.go addrs + configureBridge
    ("1.6.2 first pool", host(), DaemonNetworkOptions(), "1.6.2", "172.17.0.0/16", "pool"),
    # moby v1.6.2 daemon/networkdriver/utils.go CheckRouteOverlaps: a gateway route counts
    ("1.6.2 gateway route skips to 10.0/16", host("172.16.0.0/12 via 10.213.0.1 dev eth0"),
     DaemonNetworkOptions(), "1.6.2", "10.0.0.0/16", "pool"),
    ("1.6.2 then the /24s", host("172.17.0.0/16 via 10.0.0.1 dev eth0\n10.0.0.0/8 via 10.213.0.1 dev eth0"),
     DaemonNetworkOptions(), "1.6.2", "172.16.42.0/24", "pool"),
    # moby v1.7.1 vendor/src/github.com/docker/libnetwork/drivers/bridge/setup_ipv4.go: the 1.6 list
    ("1.7.1 same list as 1.6", host("172.16.0.0/12 via 10.213.0.1 dev eth0"), DaemonNetworkOptions(), "1.7.1",
     "10.0.0.0/16", "pool"),
    # moby v1.8.3 vendor/src/github.com/docker/libnetwork/drivers/bridge/setup_ipv4.go init: 172.[17-31].42.1/16
    ("1.8.3 walks 172.x/16", host("172.17.0.0/16 dev eth1 scope link"), DaemonNetworkOptions(), "1.8.3",
     "172.18.0.0/16", "pool"),
    ("1.8.3 then 10.[0-255]/16", host("172.16.0.0/12 via 10.213.0.1 dev eth0\n10.0.0.0/16 via 10.213.0.1 dev eth0"),
     DaemonNetworkOptions(), "1.8.3", "10.1.0.0/16", "pool"),
    ("1.8.3 then 192.168.[42-44]/24",
     host("172.16.0.0/12 via 10.213.0.1 dev eth0\n10.0.0.0/8 via 10.213.0.1 dev eth0"),
     DaemonNetworkOptions(), "1.8.3", "192.168.42.0/24", "pool"),
    # moby v1.6.2 daemon/networkdriver/bridge/driver.go "Bridge ip (%s) does not match existing bridge configuration"
    ("1.6.2 bip must match docker0", host(docker0="172.17.42.1/16"),
     DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24")), "1.6.2", None, "refused"),
    ("1.6.2 bip equal to docker0 is fine", host(docker0="172.17.42.1/16"),
     DaemonNetworkOptions(bip=IPv4Interface("172.17.42.1/16")), "1.6.2", "172.17.0.0/16", "bip"),
    # moby v1.8.3 vendor/src/github.com/docker/libnetwork/drivers/bridge/setup_verify.go IPv4AddrNoMatchError
    ("1.8.3 bip must match docker0", host(docker0="172.17.42.1/16"),
     DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24")), "1.8.3", None, "refused"),
    # moby v1.9.0 vendor/src/github.com/docker/libnetwork/ipamutils/utils.go: later daemons set docker0 to bip
    ("1.9.0 bip replaces docker0's address", host(docker0="172.17.42.1/16"),
     DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24")), "1.9.0", "10.200.0.0/24", "bip"),
    # --- 17.03 .. 20.10.14: every non-default route blocks ----------------------------------------
    # moby v17.03.2-ce vendor/github.com/docker/libnetwork/netutils/utils_linux.go CheckRouteOverlaps
    ("17.03.2 gateway route over 172.16/12", host("172.16.0.0/12 via 10.213.0.1 dev eth0"),
     DaemonNetworkOptions(), "17.03.2-ce", "192.168.0.0/20", "pool"),
    # moby v20.10.14 vendor/github.com/docker/libnetwork/netutils/utils_linux.go CheckRouteOverlaps: no scope test
    ("20.10.14 gateway routes block every pool", host(ALL_GW), DaemonNetworkOptions(), "20.10.14", None, "none"),
    # moby v20.10.15 same file: `network.Scope == netlink.SCOPE_LINK` (backport of moby#43360)
    ("20.10.15 gateway routes do not block", host(ALL_GW), DaemonNetworkOptions(), "20.10.15", "172.17.0.0/16", "pool"),
    ("20.10.15 link routes block", host(ALL_LINK), DaemonNetworkOptions(), "20.10.15", None, "none"),
    # moby v23.0.0 libnetwork/netutils/utils_linux.go CheckRouteOverlaps (moby#42598)
    ("23.0.0 gateway routes do not block", host(ALL_GW), DaemonNetworkOptions(), "23.0.0", "172.17.0.0/16", "pool"),
    # --- default-address-pools ----------------------------------------------------------------------
    # moby v17.12.0-ce daemon/config/config.go: unknown key refused; v18.06.0-ce daemon/config/config.go has it
    ("17.12 refuses default-address-pools", host(),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 24)), pools_configured=True),
     "17.12.0-ce", None, "refused"),
    ("18.06 uses default-address-pools", host(),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 24)), pools_configured=True),
     "18.06.0-ce", "10.10.0.0/24", "pool"),
    # moby v26.1.5 libnetwork/ipamutils/utils.go splitNetworks + libnetwork/network.go requestPoolHelper: in order
    ("26.1.5 configured pools in order", host(),
     DaemonNetworkOptions(default_address_pools=pools(("10.201.0.0/16", 24), ("10.200.0.0/16", 24))),
     "26.1.5", "10.201.0.0/24", "pool"),
    # moby v27.0.1 libnetwork/ipams/defaultipam/address_space.go newAddrSpace: sorted by base address.
    # Seen on a real host: 28.5.2 with two pools took the lower one, not the first listed.
    ("28.5.2 configured pools sorted", host(),
     DaemonNetworkOptions(default_address_pools=pools(("10.201.0.0/16", 24), ("10.200.0.0/16", 24))),
     "28.5.2", "10.200.0.0/24", "pool"),
    ("27.0.1 drops a pool inside an earlier one", host(),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 16), ("10.0.0.0/8", 24))),
     "27.0.1", "10.0.0.0/24", "pool"),
    ("26.1.5 keeps the listed order for the same pools", host(),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 16), ("10.0.0.0/8", 24))),
     "26.1.5", "10.10.0.0/16", "pool"),
    # --- link routes to 0.0.0.0/x ---------------------------------------------------------------------
    # moby v27.4.1 libnetwork/netutils/utils_linux.go queryOnLinkRoutes: `route.Dst != nil` only
    ("27.4.1 a link route to 0.0.0.0/1 blocks", host("0.0.0.0/1 dev tun0 scope link"),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 24))), "27.4.1", None, "none"),
    # moby v27.5.0 same function: `!route.Dst.IP.IsUnspecified()`
    ("27.5.0 ignores it", host("0.0.0.0/1 dev tun0 scope link"),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 24))), "27.5.0", "10.10.0.0/24", "pool"),
    # Seen on trixie (Debian's 26.1.5+dfsg1, built with Debian's netlink 1.3, tests/test_differential_testbed.py):
    # 0.0.0.0/1 and 0.0.0.0/4 link routes left 10.169.0.0/16 free; upstream 26.1.5 still counts them.
    ("Debian 26.1.5+dfsg1 ignores it", host("0.0.0.0/1 dev eth0 scope link"),
     DaemonNetworkOptions(default_address_pools=pools(("10.169.0.0/16", 20))),
     "Docker version 26.1.5+dfsg1, build 411e817", "10.169.0.0/20", "pool"),
    ("upstream 26.1.5 counts it", host("0.0.0.0/1 dev eth0 scope link"),
     DaemonNetworkOptions(default_address_pools=pools(("10.169.0.0/16", 20))), "26.1.5", None, "none"),
    # Seen on bookworm (Debian's 20.10.24+dfsg1, Debian's netlink 1.1): the route blocks the pool.
    ("Debian 20.10.24+dfsg1 counts it", host("0.0.0.0/1 dev eth0 scope link"),
     DaemonNetworkOptions(default_address_pools=pools(("10.169.0.0/16", 20))),
     "Docker version 20.10.24+dfsg1, build 5d6db84", None, "none"),
    # --- bip before the election (1.13 .. 23.0.3) ------------------------------------------------------
    # moby v20.10.24 daemon/daemon_unix.go initBridgeDriver: ElectInterfaceAddresses runs before bip is
    # read. Seen on bookworm (20.10.24): every pool under link routes, "bip": 10.163.47.1/24, no docker0:
    # "list bridge addresses failed: PredefinedLocalScopeDefaultNetworks List: [...]: no available network".
    ("20.10.24 bip with no free pool and no docker0", host(ALL_LINK),
     DaemonNetworkOptions(bip=IPv4Interface("10.163.47.1/24")), "20.10.24", None, "none"),
    ("20.10.24 bip with docker0's address kept", host(ALL_LINK, docker0="172.17.0.1/16"),
     DaemonNetworkOptions(bip=IPv4Interface("10.163.47.1/24")), "20.10.24", "10.163.47.0/24", "bip"),
    # moby v23.0.4 daemon/daemon_unix.go: IPAM takes bip as the PreferredPool, no election; seen on trixie
    ("26.1.5 bip with no free pool", host(ALL_LINK),
     DaemonNetworkOptions(bip=IPv4Interface("10.163.47.1/24")), "26.1.5", "10.163.47.0/24", "bip"),
    # --- nameservers ------------------------------------------------------------------------------------
    # moby v19.03.0 vendor/github.com/docker/libnetwork/resolvconf/resolvconf.go Path(); seen on a real host
    # with 26.1.5 (libnetwork/netutils/utils_linux.go FindAvailableNetwork reads resolvconf.Path()).
    ("26.1.5 reads the resolved file behind the stub", host(nameservers=("127.0.0.53",), resolved=("172.17.0.2",)),
     DaemonNetworkOptions(), "26.1.5", "172.18.0.0/16", "pool"),
    # moby v18.09.9 vendor/github.com/docker/libnetwork/resolvconf/resolvconf.go Get(): /etc/resolv.conf only
    ("18.09.9 reads only /etc/resolv.conf", host(nameservers=("127.0.0.53",), resolved=("172.17.0.2",)),
     DaemonNetworkOptions(), "18.09.9", "172.17.0.0/16", "pool"),
    # moby v27.0.1 libnetwork/netutils/utils_linux.go InferReservedNetworks: nameservers reserved
    ("27.0.1 a nameserver in 172.17", host(nameservers=("172.17.0.10",)), DaemonNetworkOptions(), "27.0.1",
     "172.18.0.0/16", "pool"),
    # --- order of choice -------------------------------------------------------------------------------
    # moby v24.0.9 daemon/daemon_unix.go initBridgeDriver: bip first
    ("24.0.9 bip wins over remembered", host(ALL_LINK),
     DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24"), remembered_subnet=N("172.18.0.0/16")),
     "24.0.9", "10.200.0.0/24", "bip"),
    ("24.0.9 remembered over docker0", host(docker0="172.19.0.1/16"),
     DaemonNetworkOptions(remembered_subnet=N("172.20.0.0/16")), "24.0.9", "172.20.0.0/16", "remembered"),
    # moby v24.0.9 daemon/daemon_unix.go initNetworkController: docker0 kept with live-restore
    ("24.0.9 live-restore keeps docker0 despite pools", host(docker0="172.19.0.1/16"),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 24)), remembered_subnet=N("172.19.0.0/16"),
                          live_restore=True), "24.0.9", "172.19.0.0/16", "remembered"),
    ("24.0.9 pools, record, no live-restore: elect again", host(docker0="172.19.0.1/16"),
     DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 24)), remembered_subnet=N("172.19.0.0/16")),
     "24.0.9", "10.10.0.0/24", "pool"),
    # --- fixed-cidr -------------------------------------------------------------------------------------
    # moby v20.10.24 daemon/daemon_unix.go initBridgeDriver: fixed-cidr is only the SubPool
    ("20.10.24 fixed-cidr does not pick the subnet", host(), DaemonNetworkOptions(fixed_cidr=N("10.50.0.0/24")),
     "20.10.24", "172.17.0.0/16", "pool"),
    # moby v23.0.4 daemon/daemon_unix.go: PreferredPool empty, SubPool set: "Invalid Address SubPool"
    ("23.0.4 fixed-cidr alone fails", host(), DaemonNetworkOptions(fixed_cidr=N("10.50.0.0/24")), "23.0.4",
     None, "refused"),
    # moby v23.0.5 daemon/daemon_unix.go (227d3f39a3): PreferredPool = fixed-cidr
    ("23.0.5 fixed-cidr is the subnet", host(), DaemonNetworkOptions(fixed_cidr=N("10.50.0.0/24")), "23.0.5",
     "10.50.0.0/24", "fixed-cidr"),
    ("26.1.5 docker0's address wins over fixed-cidr", host(docker0="172.17.0.1/16"),
     DaemonNetworkOptions(fixed_cidr=N("10.50.0.0/24")), "26.1.5", "172.17.0.0/16", "docker0-exists"),
    # moby v28.0.0 daemon/daemon_unix.go selectBIP: an address outside fixed-cidr is ignored
    ("28.0.0 fixed-cidr outside docker0's address", host(docker0="172.17.0.1/16"),
     DaemonNetworkOptions(fixed_cidr=N("10.50.0.0/24")), "28.0.0", "10.50.0.0/24", "fixed-cidr"),
    # ... and docker0's subnet widened to a bigger fixed-cidr
    ("28.0.0 fixed-cidr wider than docker0", host(docker0="172.17.0.1/24"),
     DaemonNetworkOptions(fixed_cidr=N("172.17.0.0/16")), "28.0.0", "172.17.0.0/16", "docker0-exists"),
    ("27.5.1 no widening yet", host(docker0="172.17.0.1/24"),
     DaemonNetworkOptions(fixed_cidr=N("172.17.0.0/16")), "27.5.1", "172.17.0.0/24", "docker0-exists"),
    # --- bip, -b, user networks ------------------------------------------------------------------------
    # moby v20.10.24 vendor/github.com/docker/libnetwork/ipamapi/contract.go ErrPoolOverlap
    ("20.10.24 bip over a user network fails", host(networks=(("app", "10.200.0.0/16"),)),
     DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24")), "20.10.24", None, "refused"),
    # docker-v29.0.0 daemon/libnetwork/ipamapi/contract.go ErrPoolOverlap
    ("29.0.0 bip over a user network fails", host(networks=(("app", "10.200.0.0/16"),)),
     DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24")), "29.0.0", None, "refused"),
    # moby v20.10.24 daemon/daemon_unix.go "You specified -b & --bip, mutually exclusive options"
    ("20.10.24 -b with --bip", host(), DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24"), bridge="br0"),
     "20.10.24", None, "refused"),
    # moby v1.6.2 daemon/daemon.go: the same refusal
    ("1.6.2 -b with --bip", host(), DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24"), bridge="br0"),
     "1.6.2", None, "refused"),
    # docker-v29.0.0 daemon/libnetwork/ipams/defaultipam/address_space.go: allocated subnets are skipped;
    # the br-* link route of the network blocks the pool too (it is counted, not stripped).
    ("29.0.0 an existing network on 172.17", host("172.17.0.0/16 dev br-0123456789ab proto kernel scope link",
                                                  networks=(("app", "172.17.0.0/16"),)),
     DaemonNetworkOptions(), "29.0.0", "172.18.0.0/16", "pool"),
    # moby v20.10.24: the br-* link route alone is what ElectInterfaceAddresses sees
    ("20.10.24 a br-* link route", host("172.17.0.0/16 dev br-0123456789ab proto kernel scope link"),
     DaemonNetworkOptions(), "20.10.24", "172.18.0.0/16", "pool"),
    # --- IPv6 -----------------------------------------------------------------------------------------
    # moby v20.10.0 .. v27.5.1 daemon/daemon_unix.go: "IPv6 is enabled for the default bridge, but no subnet"
    ("20.10.24 ipv6 without fixed-cidr-v6", host(), DaemonNetworkOptions(ipv6=True), "20.10.24", None, "refused"),
    ("27.5.1 ipv6 without fixed-cidr-v6", host(), DaemonNetworkOptions(ipv6=True), "27.5.1", None, "refused"),
    ("24.0.9 ipv6 with fixed-cidr-v6", host(), DaemonNetworkOptions(ipv6=True, fixed_cidr_v6="fd00:1::/64"),
     "24.0.9", "172.17.0.0/16", "pool"),
    # moby v28.0.0 daemon/daemon_unix.go getDefaultBridgeIPAMConf: no refusal, IPAM picks a ULA prefix
    ("28.0.0 ipv6 alone is fine", host(), DaemonNetworkOptions(ipv6=True), "28.0.0", "172.17.0.0/16", "pool"),
]


@pytest.mark.parametrize("net, options, version, subnet, source", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(net: HostNetwork, options: DaemonNetworkOptions, version: str, subnet: str | None, source: str) -> None:
    assert subnet_of(net, options, version) == (subnet, source)


# ---------------------------------------------------------------------------
# The failure's wording, era by era (generated: the check shows it only as a prediction)
# ---------------------------------------------------------------------------

WORDING = [
    # moby v1.6.2 daemon/networkdriver/bridge/driver.go configureBridge
    ("1.6.2", "Could not find a free IP address range for interface 'docker0'. Please configure its address "
              "manually and run 'docker -b docker0'"),
    # moby v1.8.3 vendor/src/github.com/docker/libnetwork/drivers/bridge/errors.go IPv4AddrRangeError (%q)
    ("1.8.3", 'can\'t find an address range for interface "docker0"'),
    # moby v18.09.0 daemon/daemon_unix.go initBridgeDriver
    ("18.09.0", "Error initializing network controller: list bridge addresses failed: no available network"),
    # moby v20.10.14 vendor/github.com/docker/libnetwork/netutils/utils_linux.go ElectInterfaceAddresses
    ("20.10.14", "Error initializing network controller: list bridge addresses failed: "
                 "PredefinedLocalScopeDefaultNetworks List: [{pools}]: no available network"),
    # moby v23.0.3 libnetwork/netutils/utils_linux.go ElectInterfaceAddresses (last release with it)
    ("23.0.3", "Error initializing network controller: list bridge addresses failed: "
               "PredefinedLocalScopeDefaultNetworks List: [{pools}]: no available network"),
    # moby v23.0.4 libnetwork/ipam/allocator.go; v26.1.5 the same text
    ("23.0.4", 'error creating default "bridge" network: could not find an available, non-overlapping IPv4 '
               "address pool among the defaults to assign to the network"),
    ("26.1.5", 'error creating default "bridge" network: could not find an available, non-overlapping IPv4 '
               "address pool among the defaults to assign to the network"),
    # moby v27.0.1 libnetwork/ipamapi/contract.go ErrNoMoreSubnets; docker-v29.0.0 daemon/libnetwork/ipamapi
    ("27.0.1", 'error creating default "bridge" network: all predefined address pools have been fully subnetted'),
    ("29.0.0", 'error creating default "bridge" network: all predefined address pools have been fully subnetted'),
]


@pytest.mark.parametrize("version, text", WORDING, ids=[w[0] for w in WORDING])
def test_failure_wording(version: str, text: str) -> None:
    everything = "default via 10.0.0.1 dev eth0\n0.0.0.0/1 dev eth0 scope link\n128.0.0.0/1 dev eth0 scope link\n"
    prediction = predict_bridge(host(everything), DaemonNetworkOptions(), version)
    assert prediction.source == "none" and prediction.fails
    assert prediction.expected_error == text.replace("{pools}", " ".join(str(p) for p in DEFAULT_POOLS))


# ---------------------------------------------------------------------------
# Versions, options and pools as the rules read them
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, parsed", [
    ("Docker version 20.10.24+dfsg1, build 297e128", (20, 10, 24)),
    ("Docker version 17.03.2-ce, build f5ec1e2", (17, 3, 2)),
    ("v27.5.0", (27, 5, 0)),
    ("Docker version 1.6.2, build 7c8fca2", (1, 6, 2)),
    ("24.0", (24, 0, 0)),
])
def test_full_version(text: str, parsed: tuple[int, int, int]) -> None:
    assert parse_docker_version(text) == parsed


def test_the_patch_level_decides_which_routes_count() -> None:
    # moby v20.10.14 vs v20.10.15 vendor/github.com/docker/libnetwork/netutils/utils_linux.go
    assert rules_for("20.10.14").every_route_blocks and not rules_for("20.10.15").every_route_blocks
    assert rules_for("Docker version 20.10.9, build c2ea9bc").every_route_blocks  # 9 < 15, not "20.10" alone
    assert not rules_for("20.10.24").every_route_blocks


def test_sorted_pools_drop_the_overlapping_longer_one() -> None:
    # moby v27.0.1 libnetwork/ipams/defaultipam/address_space.go newAddrSpace
    options = DaemonNetworkOptions(default_address_pools=pools(("10.10.0.0/16", 24), ("10.0.0.0/8", 24),
                                                               ("10.0.0.0/16", 24), ("192.168.0.0/16", 24)))
    assert configured_pools(options, rules_for("27.0.1")) == [(N("10.0.0.0/8"), 24), (N("192.168.0.0/16"), 24)]
    assert configured_pools(options, rules_for("26.1.5")) == list(options.default_address_pools)


def test_options_read_bridge_ipv6_live_restore_and_pools_key() -> None:
    options = parse_daemon_options('{"ipv6": true, "live-restore": true, "default-address-pools": []}',
                                   "-b br0 --fixed-cidr-v6 fd00:1::/64")
    assert (options.bridge, options.ipv6, options.fixed_cidr_v6, options.live_restore, options.pools_configured) == (
        "br0", True, "fd00:1::/64", True, True)
    plain = parse_daemon_options("{}", "--ipv6=false")
    assert (plain.bridge, plain.ipv6, plain.live_restore, plain.pools_configured) == (None, False, False, False)
