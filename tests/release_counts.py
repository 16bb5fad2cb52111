"""How many testbed tests run on each Debian release, from the collected test ids (nothing runs).

    PYTHONPATH=. .venv/bin/python -m tests.release_counts [-v]

pytest collects the suite (``--collect-only -m testbed``, as ``./dev test --collect-only -q -m
testbed`` would). A test counts for a release when its id names the release
(``[linux_client@sid]``, ``[trixie]``, ``...-sid]``); an id that names none counts for the releases
of the hosts its own code names (host specs ``flavour@release``, ``release="..."``, a loop over
``RELEASES``, in its source or the module constants it uses; a flavour without ``@`` on its own
default release: bookworm, but sid for docker_containerd_store and trixie for podman_client);
a test whose code names no host counts for those of its fixtures, and else for bookworm. The
shared registry host (``tls_registry``, an ``ecs`` on bookworm) counts only for the tests that
name no host of their own. ``-v`` prints each test with its releases.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections import Counter
from typing import Any

import pytest

from tests.testbed.hosts import ALL_FLAVOURS
from tests.testbed.images import DEFAULT_RELEASE, RELEASES

_NAMED = re.compile(r"(?<![a-z])(" + "|".join(RELEASES) + r")(?![a-z])")
#: A host spec as a string literal: "linux_client", 'ecs@sid' (not a label such as "flavour=ecs").
_SPEC = re.compile(r"[\"'](" + "|".join(ALL_FLAVOURS) + r")(?:@(" + "|".join(RELEASES) + r"))?[\"']")
_RELEASE_ARG = re.compile(r"release\s*=\s*[\"'](" + "|".join(RELEASES) + r")[\"']")


def _texts(func: Any) -> list[str]:
    """A function's source and the module constants it names."""
    try:
        text = inspect.getsource(func)
    except (OSError, TypeError):
        return []
    module = sys.modules.get(func.__module__)
    constants = [getattr(module, name, None) for name in set(re.findall(r"\b[A-Z][A-Z_]+\b", text))
                 if name != "RELEASES"]
    return [text, *(repr(c) for c in constants if isinstance(c, (str, tuple, list)))]


def _found(texts: list[str]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        if re.search(r"\bin RELEASES\b", text):
            found.update(RELEASES)
        found.update(_RELEASE_ARG.findall(text))
        for flavour, release in _SPEC.findall(text):
            found.add(release or ALL_FLAVOURS[flavour].release)
    return found


def releases_of(item: pytest.Function) -> tuple[str, ...]:
    """The releases a testbed test runs hosts of: its id's, else its own code's, else its fixtures'."""
    named = set(_NAMED.findall(item.nodeid.split("::", 1)[1]))
    if not named:
        named = _found(_texts(item.function))
    if not named:
        fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        named = _found([t for func in fixtures for t in _texts(func)])
    return tuple(r for r in RELEASES if r in named) or (DEFAULT_RELEASE,)


class _Collector:
    def __init__(self) -> None:
        self.items: list[pytest.Function] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = [i for i in session.items if isinstance(i, pytest.Function)]


def main(argv: list[str]) -> int:
    collector = _Collector()
    code = pytest.main(["--collect-only", "-q", "-m", "testbed", "-p", "no:randomly", "tests"],
                       plugins=[collector])
    if code != 0:
        return int(code)
    by_test = {item.nodeid: releases_of(item) for item in collector.items}
    counts = Counter(r for releases in by_test.values() for r in releases)
    if "-v" in argv:
        for nodeid, releases in by_test.items():
            print(f"{' '.join(releases):<22} {nodeid}")
    alone = Counter(releases[0] for releases in by_test.values() if len(releases) == 1)
    print(f"testbed tests collected: {len(by_test)}; on " + ", ".join(f"{r} {counts[r]}" for r in RELEASES)
          + f"; on more than one release: {sum(len(r) > 1 for r in by_test.values())}")
    print("\n| release | testbed tests | on it alone | also on another release |\n|---|---|---|---|")
    for release in RELEASES:
        print(f"| {release} | {counts[release]} | {alone[release]} | {counts[release] - alone[release]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
