"""The registry screen on a real registry deployed by regwiz: browse a few hundred tags, mark two and
delete them through the plan (they answer 404 after), prune by policy and see the bytes really freed.
Keys only, as a user would; the unit tests below check the plan's wording without a host.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from app.registry.client import RegistryClient, RegistryError
from app.registry.ops import DeleteTagsStep, RegistrySource, TagInfo, human_size, plan_chosen
from screens.app import RegwizApp
from screens.plan import PlanScreen
from screens.registry import RegistryScreen
from tests.test_registry_ops_testbed import Pushed, push_image

MANY = 200  # tags of one manifest: the list must stay quick with hundreds of rows
LAYER = 256 * 1024


async def until(pilot, condition, seconds: float = 300, why=lambda: "") -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting: {why()}")


def status_of(screen: RegistryScreen) -> str:
    return str(screen.query_one("#registry-status", Static).render())


def gone(client: RegistryClient, image: Pushed) -> bool:
    """The manifest answers 404, by tag and by digest."""
    for reference in (image.tag, image.digest):
        try:
            client.get_manifest(image.repository, reference)
            return False
        except RegistryError as exc:
            if exc.status != 404:
                raise
    return True


def idle(screen: RegistryScreen) -> bool:
    return not screen.loading and not screen.busy


async def test_browse_mark_delete_and_prune_on_a_real_registry(testbed, fresh_host, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                               monkeypatch) -> None:
    from tests.registry_helpers import deployed
    from tests.sshutil import root_by_password

    host = fresh_host("ecs")
    target = await deployed(testbed, host, tmp_path)
    # Every request costs the registry host a TLS handshake and a bcrypt check of the password: its CPU,
    # shared here with the whole loaded machine, not regwiz's. Measured at a load average of 15-19 on 2
    # cores: 199 manifest PUTs from 8 threads took 51 s, 0.26 s of the registry's time each, queued 2 s
    # (median) to 5.6 s each; the screen listed 207 tags (one GET each, 4 at a time) in 46 s. Heavier
    # (this test beside the fast tests), a listing request waited past regwiz's 15 s per-request time-out,
    # meant for a registry on its own host. So: fewer pushes at once (the same total, less queueing), and a
    # per-request time-out that only bounds a request that hangs; every wait below is on a condition.
    client = RegistryClient(dataclasses.replace(target.endpoint(), timeout=120))
    started = time.monotonic()
    images = []
    for number in range(6):  # oldest first: each push sets its tag's push time
        images.append(push_image(client, "ops/app", f"v{number}", [secrets.token_bytes(LAYER)]))
        time.sleep(0.05)
    bulk = push_image(client, "bulk/same", "t0000", [secrets.token_bytes(1024)])
    with ThreadPoolExecutor(max_workers=4) as pool:  # the same manifest under many tags: one PUT each
        list(pool.map(lambda n: client.put_manifest("bulk/same", f"t{n:04d}", bulk.manifest,
                                                    "application/vnd.docker.distribution.manifest.v2+json"),
                      range(1, MANY)))
    print(f"pushed {MANY + 6} tags in {time.monotonic() - started:.1f} s")

    transport = root_by_password(host, tmp_path)
    await transport.connect()
    source = RegistrySource(client, "/var/lib/registry", target.port, target.tls, target.url)
    app = RegwizApp()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = RegistryScreen(app.bus, source, transport, host.address)
            await app.push_screen(screen)
            loaded = time.monotonic()
            await until(pilot, lambda: idle(screen) and len(screen.tags) >= MANY + 6,
                        why=lambda: status_of(screen))
            print(f"listed {len(screen.tags)} tags in {time.monotonic() - loaded:.1f} s")
            table = screen.query_one("#tags", DataTable)
            assert app.focused is table and table.row_count == len(screen.tags)
            assert "used" in str(screen.query_one("#reg-storage", Static).render()) and screen.usage
            assert screen.free and screen.free > 0
            assert screen.tags["ops/app:v0"].size == images[0].unique_bytes - len(images[0].manifest)

            # Browse: to the bottom, then up to ops/app:v0 (near the end); space marks v0 and moves on to v1.
            def at() -> str | None:
                return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

            await pilot.press("ctrl+end")
            assert table.cursor_row == table.row_count - 1
            for _ in range(20):
                if at() == "ops/app:v0":
                    break
                await pilot.press("up")
            assert at() == "ops/app:v0"
            assert "ops/app:v0" in str(screen.query_one("#tag-detail", Static).render())
            await pilot.press("space", "space")
            assert screen.marked == {"ops/app:v0", "ops/app:v1"}
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.focused is not None)
            plan_text = " ".join(str(w.render()) for w in app.screen.query(".plan-action").results(Static))
            assert "ops/app:v0" in plan_text and "ops/app:v1" in plan_text and "ops/app:v2" not in plan_text
            assert app.focused is app.screen.query_one("#cancel")  # the safe choice first
            await pilot.press("shift+tab", "enter")  # Apply
            await until(pilot, lambda: isinstance(app.screen, RegistryScreen) and idle(screen)
                        and "Done" in status_of(screen) and "ops/app:v0" not in screen.tags,
                        why=lambda: f"{app.screen}: {status_of(screen)}")
            assert gone(client, images[0]) and gone(client, images[1])
            assert client.head_manifest("ops/app", "v2") is not None
            deleted_freed = screen.last_freed
            assert deleted_freed is not None and deleted_freed >= 0.9 * 2 * LAYER, deleted_freed
            assert human_size(deleted_freed) in status_of(screen)

            # Prune by policy: keep the 2 newest of ops/app (v2 and v3 go), typed into the fields.
            await pilot.press("tab")
            assert app.focused is screen.query_one("#prune-keep", Input)
            await pilot.press("2", "enter", "enter", *"ops/app", "enter")  # Enter in the last field prunes
            await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.focused is not None)
            plan = app.screen.plan
            assert "prune 2 tags" in plan.summary
            planned = next(int(a.split("frees ")[1].split()[0]) for a in plan.actions if "ops/app:v2" in a)
            assert planned == images[2].unique_bytes
            await pilot.press("shift+tab", "enter")
            await until(pilot, lambda: isinstance(app.screen, RegistryScreen) and idle(screen)
                        and "Done: 2 tags" in status_of(screen) and "ops/app:v2" not in screen.tags,
                        why=lambda: f"{app.screen}: {status_of(screen)}")
            assert gone(client, images[2]) and gone(client, images[3])
            assert client.head_manifest("ops/app", "v5") is not None
            assert client.head_manifest("bulk/same", f"t{MANY - 1:04d}") is not None  # other repositories kept
            freed = screen.last_freed
            assert freed is not None and freed >= 0.9 * 2 * LAYER, freed
            assert f"{freed} bytes, measured on the host" in status_of(screen)
            logs = "\n".join(screen.query_one("#log").lines)  # type: ignore[attr-defined]
            assert "garbage-collect" in logs or "delete ops/app@" in logs, logs[-2000:]
            assert target.password is not None and target.password.reveal() not in logs

            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, RegistryScreen)
    finally:
        await transport.close()

    # The dashboard of a profile for this host: its storage row prices the default policy, f on it opens
    # the registry screen; f on the certificate row shows the renewal's plan (cancelled here).
    await dashboard_offers_the_registry_and_a_renewal(testbed, host, target, monkeypatch)


async def dashboard_offers_the_registry_and_a_renewal(testbed, host, target, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.dashboard import ACTION_REGISTRY, ACTION_RENEW
    from app.paths import known_hosts_path
    from app.profiles import Profile, RegistryUser, ServerProfile, profiles_dir, save_profile
    from app.steps import Status
    from screens.dashboard import DashboardScreen

    from tests.registry_helpers import unreachable_probe

    assert target.password is not None and testbed.images is not None
    # The renewal plans a deploy: the registry image from the testbed, Docker Hub out of reach (as the CLI tests).
    monkeypatch.setenv("REGWIZ_UPLOAD_IMAGE", testbed.images.registry)
    monkeypatch.setenv("REGWIZ_HUB_PROBE_URL", unreachable_probe(testbed))
    monkeypatch.setenv("RWT_SSH_PASSWORD", host.root_password)
    monkeypatch.setenv("RWT_REGISTRY_PASSWORD", target.password.reveal())
    known = known_hosts_path()
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text("\n".join(host.known_hosts_lines()) + "\n")
    profile = Profile(server=ServerProfile(host=host.address, user="root", password_env="RWT_SSH_PASSWORD"))
    profile.registry.users = [RegistryUser("ci", "RWT_REGISTRY_PASSWORD")]
    save_profile(profile, profiles_dir() / "ops.toml")
    app = RegwizApp(profile="ops")
    async with app.run_test(size=(80, 24)) as pilot:
        def checked() -> bool:
            screen = app.screen
            return isinstance(screen, DashboardScreen) and "storage" in screen.rows and not screen.checking and all(
                r.status not in (Status.PENDING, Status.RUNNING) for r in screen.rows.values())

        await until(pilot, checked, why=lambda: str(getattr(app.screen, "rows", "")))
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        storage = dashboard.rows["storage"]
        assert storage.status is Status.OK, storage.detail
        assert "used" in storage.detail and "free" in storage.detail and "keeping the 10 newest" in storage.detail
        assert storage.action == ACTION_REGISTRY and dashboard.rows["tls"].action == ACTION_RENEW
        await pilot.press(*["down"] * 4)  # the certificate row
        assert "Renew the certificate (press f)" in str(dashboard.query_one("#row-detail", Static).render())
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.focused is not None)
        assert "certificate" in app.screen.plan.summary.lower() or any(
            "server.crt" in c.path for c in app.screen.plan.changes)
        await pilot.press("escape")  # cancelled: nothing renewed
        await until(pilot, lambda: "not renewed" in str(dashboard.query_one("#dashboard-status", Static).render()))
        await pilot.press("down", "down", "f")  # the storage row's action: the registry screen
        await until(pilot, lambda: isinstance(app.screen, RegistryScreen) and idle(app.screen)
                    and bool(app.screen.tags), why=lambda: str(app.screen))
        assert "ops/app:v5" in app.screen.tags and "ops/app:v0" not in app.screen.tags
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is dashboard


def test_marked_tags_plan_their_own_bytes_and_spare_a_shared_manifest() -> None:
    def tag(name: str, digest: str, blobs: dict[str, int]) -> TagInfo:
        return TagInfo("r", name, digest, "", sum(blobs.values()), {digest: 500, **blobs}, pushed=1.0)

    a = tag("a", "sha256:a", {"sha256:la": 1000, "sha256:shared": 7})
    b = tag("b", "sha256:b", {"sha256:lb": 2000, "sha256:shared": 7})
    twin = tag("twin", "sha256:b", {"sha256:lb": 2000, "sha256:shared": 7})
    plan = plan_chosen([a, b, twin], [a, b])
    assert [p.info.tag for p in plan.delete] == ["a"] and plan.freed_bytes == 1500
    assert [t.tag for t, _ in plan.spared] == ["b"]  # deleting b's manifest would delete the kept twin


def test_a_marked_tag_gone_since_the_list_is_refused() -> None:
    from app.registry.client import RegistryEndpoint
    from app.registry.ops import OpsError

    step = DeleteTagsStep(RegistryClient(RegistryEndpoint("127.0.0.1", 1, False, None)), "/x", 1, False,
                          [("r", "gone")])
    try:
        step._choose([TagInfo("r", "here", "sha256:h", "", 1, pushed=1.0)])
        raise AssertionError("a tag no longer there was planned")
    except OpsError as exc:
        assert "reload" in str(exc)
