"""Snapshots of the summary and onboarding screens at 80x24 and 120x40. Update with --snapshot-update.

The data is fixed here (no generated CA, no working directory): the pictures change only when the
screens do.
"""

from __future__ import annotations

from pathlib import Path

from app.profiles import Profile, TeamProfile
from app.steps import Status
from app.summary import ChangeLine, ClientLine, SetupSummary
from screens.app import RegwizApp
from tests.snapshot_helpers import steady

FINGERPRINT = ":".join(["3F", "A2", "9C", "01", "7D", "E4", "55", "B8"] * 4)
TEAM = TeamProfile(registry="203.0.113.10:5000", ca_pem=None, username="ci", password_env="REGISTRY_CI_PASSWORD")


def _summary() -> SetupSummary:
    address = "203.0.113.10:5000"
    return SetupSummary(
        deployed=True, address=address, url=f"https://{address}", tls="own-ca", auth="htpasswd",
        ca_file=Path("/home/dev/.local/state/regwiz/ca/ca.crt"), ca_fingerprint=FINGERPRINT, ca_pem=None,
        users=["ci", "deploy"],
        clients=[ClientLine("root@198.51.100.7", "linux", Status.OK, 1.2,
                            f"pulled {address}/regwiz/hello:latest in 1.2 s"),
                 ClientLine("root@198.51.100.8", "sysv", Status.FAILURE, None,
                            "the pull failed: this machine does not trust the CA that signed the registry's "
                            "certificate; fix: put the CA in /etc/docker/certs.d/203.0.113.10:5000/ca.crt")],
        changes=[ChangeLine("root@198.51.100.7", f"/etc/docker/certs.d/{address}/ca.crt", "new file"),
                 ChangeLine("203.0.113.10", "/etc/docker/daemon.json",
                            "/var/backups/regwiz/20240101-120000/etc/docker/daemon.json")],
        commands=[f"docker login {address} -u ci", f"docker tag IMAGE {address}/NAME:TAG",
                  f"docker push {address}/NAME:TAG", f"docker pull {address}/NAME:TAG"],
        actions=["Check its health any time: regwiz --profile 203.0.113.10 (the dashboard)",
                 "Share it: export the team profile; teammates run regwiz onboard FILE",
                 "Not done: root@198.51.100.8: go back to Clients (Escape) to see why and retry",
                 "Onboard another machine from here"],
        profile_path=Path("/home/dev/.config/regwiz/profiles/203.0.113.10.toml"),
        team=Profile(team=TEAM))


def _push_summary(summary: SetupSummary):  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        from screens.summary import SummaryScreen

        await pilot.app.push_screen(SummaryScreen(pilot.app.bus, summary))
        await pilot.pause()

    return setup


def test_summary_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=_push_summary(_summary()))


def test_summary_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=(120, 40), run_before=_push_summary(_summary()))


def test_summary_without_profile_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    summary = _summary()
    summary.profile_path = None
    summary.actions[0] = "The dashboard needs a saved profile: none was saved in this run"
    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=_push_summary(summary))


def test_onboard_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        from screens.onboard import OnboardScreen

        await pilot.app.push_screen(OnboardScreen(pilot.app.bus))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)


def test_onboard_host_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """A team profile given (from the summary), a host chosen, a field with its error."""
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        from screens.onboard import OnboardScreen

        screen = OnboardScreen(pilot.app.bus, team=TEAM)
        await pilot.app.push_screen(screen)
        await pilot.press("down", "enter", *"bad host!", "enter", "enter", "enter", "enter", "enter")
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=(120, 40), run_before=setup)
