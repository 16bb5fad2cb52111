"""python -m tests.testbed build [RELEASE...] | clean-stale | up FLAVOUR[@RELEASE]... | headroom [FLAVOUR[@RELEASE]...]

(manual and ./dev use) build: the images of these releases (default: bookworm,
trixie and sid). up: hosts of these flavours, each on its own release when
given (linux_client@sid), else the flavour's. headroom: this machine's inotify
instances, used and allowed, against what hosts of these flavours (default:
the shared ones) need; exits 1 when they would not fit.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "build":
        from tests.testbed.images import RELEASES, ensure_images

        print(f"[testbed] images ready: {ensure_images(releases=argv[1:] or RELEASES)}", file=sys.stderr)
        return 0
    if command == "clean-stale":
        from tests.testbed.hosts import remove_stale

        removed = remove_stale()
        if removed:
            print(f"[testbed] removed {removed} leftover testbed objects", file=sys.stderr)
        return 0
    if command == "headroom":
        from tests.testbed.docker_cli import image_exists
        from tests.testbed.hosts import ALL_FLAVOURS, FLAVOURS, inotify_headroom, inotify_kinds, parse_spec
        from tests.testbed.images import image_refs

        names = argv[1:] or list(FLAVOURS)
        try:
            specs = [parse_spec(name) for name in names]
        except ValueError as exc:
            print(f"[testbed] {exc}", file=sys.stderr)
            return 2
        image = image_refs().host  # counts root's instances when this user cannot
        headroom = inotify_headroom([k for name, rel in specs for k in inotify_kinds(ALL_FLAVOURS[name], rel)],
                                    image if image_exists(image) else None)
        problem = headroom.problem(f"{len(names)} testbed hosts ({' '.join(names)})")
        print(f"[testbed] {headroom.summary()}{': ' + problem if problem else ': enough'}", file=sys.stderr)
        return 1 if problem else 0
    if command == "up":
        from tests.testbed.hosts import Testbed, parse_spec

        try:  # before any image is built or host started (e.g. podman_client on bookworm)
            for name in argv[1:]:
                parse_spec(name)
        except ValueError as exc:
            print(f"[testbed] {exc}", file=sys.stderr)
            return 2
        with Testbed() as bed:
            for host in bed.start(*argv[1:]):
                print(f"{host.name} ({host.release}, {host.init}): ssh root@{host.address} (password {host.root_password}); "
                      f"{host.sudo_user}/{host.sudo_password}; key {host.client_key.path}")
            input("testbed is up; press Enter to remove it ")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


raise SystemExit(main(sys.argv[1:]))
