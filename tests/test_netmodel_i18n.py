"""The route picture in Chinese: labels and legend translated, every line within the width, and every
column of marks at the same display column as its cell label (wide characters take two columns).

Display columns are measured here with rich's cell_len (Textual's own measure), not with the function
the picture uses, so a miscount in either shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from rich.cells import cell_len

from app import i18n
from app.netmodel import (
    ROW_LABELS,
    DaemonNetworkOptions,
    HostNetwork,
    InterfaceAddress,
    parse_ip_routes,
    predict_bridge,
    render_picture,
)

ECS_CONFLICT = """\
default via 10.213.0.1 dev eth0
172.16.0.0/12 dev eth0 scope link
192.168.0.0/16 via 10.213.0.1 dev eth0
10.201.3.0/24 dev eth1 scope link
"""
MODERN = "Docker version 20.10.24+dfsg1, build 297e128"


def _host() -> HostNetwork:
    return HostNetwork(routes=tuple(parse_ip_routes(ECS_CONFLICT)),
                       addresses=(InterfaceAddress("eth0", IPv4Interface("10.213.0.5/24")),),
                       nameservers=(IPv4Address("100.100.2.136"),), docker_networks=(), docker0=None)


OPTIONS = [DaemonNetworkOptions(),
           DaemonNetworkOptions(bip=IPv4Interface("10.200.0.1/24"),
                                default_address_pools=((IPv4Network("10.201.0.0/16"), 24),))]


def _runs(line: str) -> list[tuple[int, int]]:
    """(first, last + 1) display columns of each run of non-space characters."""
    runs: list[tuple[int, int]] = []
    column, begin = 0, None
    for char in line + " ":
        if char != " " and begin is None:
            begin = column
        elif char == " " and begin is not None:
            runs.append((begin, column))
            begin = None
        column += cell_len(char)
    return runs


def _blocks(lines: list[str], labels: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(header line, the seven row lines) of each block of the picture."""
    for index, line in enumerate(lines):
        if line.startswith(labels[0]):
            yield lines[index - 1], lines[index:index + len(labels)]


@pytest.mark.parametrize("options", OPTIONS, ids=["default-pools", "bip-and-pools"])
@pytest.mark.parametrize("width", [80, 72, 40])
def test_the_chinese_picture_is_aligned(chinese: None, options: DaemonNetworkOptions, width: int) -> None:
    net = _host()
    lines = render_picture(net, options, predict_bridge(net, options, MODERN), width=width)
    labels = [i18n._(label) for label in ROW_LABELS]
    assert labels[0] == "路由（链路）" and all(label != english for label, english in zip(labels, ROW_LABELS,
                                                                                       strict=True))
    assert any(line.startswith("图例：") for line in lines)
    assert all(cell_len(line) <= width for line in lines), [(cell_len(line), line) for line in lines]
    blocks = list(_blocks(lines, labels))
    assert len(blocks) == 4  # 172.16/12, 192.168/16 and two 10/8 windows
    for header, rows in blocks:
        cells = _runs(header)
        wide = len(cells) == 16  # sixteen cell labels ("16" .. "31", "0" .. "f"), else one run of hex digits
        assert wide or len(cells) == 1, header
        for label, row in zip(labels, rows, strict=True):
            assert row.startswith(label)
            marks = _runs(" " * cell_len(label) + row[len(label):])  # the label blanked by its display width
            if wide:  # each mark ends where its cell's label ends (right-aligned under it)
                assert [end for _begin, end in marks] == [end for _begin, end in cells], (header, row)
            else:
                assert marks == cells, (header, row)


def test_the_english_picture_is_as_before() -> None:
    """English keeps its 21 columns of labels (the longest, 'docker0 (predicted)', plus two)."""
    net = _host()
    lines = render_picture(net, OPTIONS[0], predict_bridge(net, OPTIONS[0], MODERN))
    row = next(line for line in lines if line.startswith("docker0 (predicted)"))
    assert row[:21] == "docker0 (predicted)  " and row[21:24] == " . "
