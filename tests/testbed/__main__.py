"""python -m tests.testbed build | clean-stale | up FLAVOUR...   (manual and ./dev use)"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "build":
        from tests.testbed.images import ensure_images

        print(f"[testbed] images ready: {ensure_images()}", file=sys.stderr)
        return 0
    if command == "clean-stale":
        from tests.testbed.hosts import remove_stale

        removed = remove_stale()
        if removed:
            print(f"[testbed] removed {removed} leftover testbed objects", file=sys.stderr)
        return 0
    if command == "up":
        from tests.testbed.hosts import Testbed

        with Testbed() as bed:
            for host in bed.start(*argv[1:]):
                print(f"{host.name}: ssh root@{host.address} (password {host.root_password}); "
                      f"{host.sudo_user}/{host.sudo_password}; key {host.client_key.path}")
            input("testbed is up; press Enter to remove it ")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


raise SystemExit(main(sys.argv[1:]))
