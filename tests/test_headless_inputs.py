"""Every headless command, run as a user would, with missing, wrong and hostile inputs.

Each run must end in one ``regwiz: ...`` line that says what to do, with exit code 2
for bad input and 1 for a failure while running, and never in a Python traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.cli_helpers import json_lines, regwiz

PROFILE_COMMANDS = ("diagnose", "deploy", "clients", "setup")
LONG = "a" * 5000


@pytest.fixture
def home(regwiz_home: Path) -> Path:
    regwiz_home.mkdir(parents=True, exist_ok=True)
    return regwiz_home


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REGWIZ_", "UNSET_"))}
    return {**clean, "REGWIZ_HOME": str(home)}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def expect(result: subprocess.CompletedProcess[str], code: int, *says: str) -> str:
    """The run ended with ``code`` and one ``regwiz:`` line holding every phrase of ``says``."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    assert result.returncode == code, (result.returncode, output[-3000:])
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert last.startswith("regwiz: "), result.stderr[-2000:]
    for phrase in says:
        assert phrase in last, (phrase, last)
    return last


def write(home: Path, name: str, text: str) -> Path:
    path = home / name
    path.write_text(text)
    return path


def full_profile(host: str = "127.0.0.1", port: int = 1, user: str = "root", extra: str = "") -> str:
    """A profile whose server, registry and client are all on ``host`` (by default a port nothing listens on:
    no run here may reach a real registry or sshd of this machine)."""
    return (f'[server]\nhost = {json.dumps(host)}\nport = {port}\nuser = {json.dumps(user)}\n{extra}\n'
            f'[registry]\nport = {port}\nauth = "none"\ntls = "none"\n'
            f'[[clients]]\nhost = {json.dumps(host)}\nport = {port}\nuser = {json.dumps(user)}\n')


# --- missing files and malformed TOML --------------------------------------------------------


@pytest.mark.parametrize("command", PROFILE_COMMANDS + ("export-team-profile",))
def test_a_missing_profile_says_where_it_looked(command: str, env: dict[str, str], home: Path) -> None:
    expect(regwiz(command, "--profile", str(home / "nope.toml"), env=env), 2, "nope.toml",
           "neither an existing profile file nor a profile name")
    expect(regwiz(command, "--profile", "nope", env=env), 2, "no profile named 'nope'")
    expect(regwiz(command, "--profile", LONG, env=env), 2, "not a usable name or path",
           "give a saved profile's name or a profile file")


def test_bare_profile_without_a_terminal(env: dict[str, str], home: Path) -> None:
    expect(regwiz("--profile", "nope", env=env), 2, "no profile named")
    expect(regwiz("--profile", LONG, env=env), 2, "not a usable name or path")
    bad = write(home, "bad.toml", "[server\nhost = 1\n")
    expect(regwiz("--profile", str(bad), env=env), 2, "bad.toml, line 1", "not valid TOML")
    good = write(home, "good.toml", full_profile())
    last = expect(regwiz("--profile", str(good), env=env), 2, "health dashboard needs a terminal")
    assert "regwiz diagnose --profile" in last
    shown = regwiz("--help", env=env)
    assert shown.returncode == 0 and "health dashboard" in " ".join(shown.stdout.split())
    assert "open the wizard with this profile" not in shown.stdout


@pytest.mark.parametrize("command", PROFILE_COMMANDS + ("export-team-profile",))
def test_malformed_toml_names_the_line(command: str, env: dict[str, str], home: Path) -> None:
    bad = write(home, "bad.toml", '[server]\nhost = "10.0.0.1\nport = 22\n')
    expect(regwiz(command, "--profile", str(bad), env=env), 2, "bad.toml, line 2", "not valid TOML")
    binary = home / "binary.toml"
    binary.write_bytes(b"\xff\xfe[server]\n")
    expect(regwiz(command, "--profile", str(binary), env=env), 2, "not UTF-8")


def test_onboard_missing_or_malformed_team_profile(env: dict[str, str], home: Path) -> None:
    expect(regwiz("onboard", str(home / "team.toml"), env=env), 2, "no team profile at",
           "regwiz export-team-profile")
    expect(regwiz("onboard", LONG, env=env), 2, "not a usable path")
    bad = write(home, "bad.toml", "[team]\nregistry = \n")
    expect(regwiz("onboard", str(bad), env=env), 2, "bad.toml, line 2", "not valid TOML")
    binary = home / "binary.toml"
    binary.write_bytes(b"[team]\nregistry = \"\xff\"\n")
    expect(regwiz("onboard", str(binary), env=env), 2, "not UTF-8")
    without = write(home, "noteam.toml", full_profile())
    expect(regwiz("onboard", str(without), env=env), 2, "has no [team] table", "regwiz export-team-profile")


# --- variables that are not set --------------------------------------------------------------


@pytest.mark.parametrize("command", PROFILE_COMMANDS)
def test_a_profile_naming_unset_variables(command: str, env: dict[str, str], home: Path) -> None:
    ssh = write(home, "ssh.toml", full_profile(extra='password_env = "UNSET_SSH_PASSWORD"'))
    expect(regwiz(command, "--profile", str(ssh), env=env), 2, "UNSET_SSH_PASSWORD is not set", "set it")
    users = write(home, "users.toml", '[server]\nhost = "127.0.0.1"\nport = 1\n[registry]\nport = 1\n'
                  'auth = "htpasswd"\n[[registry.users]]\nname = "ci"\npassword_env = "UNSET_REGISTRY_PASSWORD"\n'
                  '[[clients]]\nhost = "127.0.0.1"\nport = 1\n')
    if command != "diagnose":  # diagnose needs no registry password
        expect(regwiz(command, "--profile", str(users), env=env), 2,
               "set the environment variable UNSET_REGISTRY_PASSWORD")


def test_onboard_without_a_registry_password_names_both_ways(env: dict[str, str], home: Path) -> None:
    team = write(home, "team.toml", '[team]\nregistry = "127.0.0.1:5000"\ntls = false\nusername = "ci"\n')
    last = expect(regwiz("onboard", str(team), env=env), 2, "registry user ci needs a password",
                  "--password-env VAR", "password_env")
    assert "[team]" in last and "key" not in last  # not the old advice to check the SSH key
    expect(regwiz("onboard", str(team), "--password-env", "UNSET_CI", env=env), 2,
           "--password-env UNSET_CI", "not set", "set it")
    named = write(home, "named.toml", '[team]\nregistry = "127.0.0.1:5000"\ntls = false\nusername = "ci"\n'
                  'password_env = "UNSET_TEAM_PW"\n')
    expect(regwiz("onboard", str(named), env=env), 2, "UNSET_TEAM_PW", "is not set", "--password-env VAR")
    json_run = regwiz("onboard", str(team), "--json", env=env)
    expect(json_run, 2, "--password-env VAR")
    error = next(o for o in json_lines(json_run.stdout) if o["type"] == "error")
    assert error["exit"] == 2 and "--password-env VAR" in error["message"]


def test_onboard_ssh_password_variable_not_set(env: dict[str, str], home: Path) -> None:
    team = write(home, "team.toml", '[team]\nregistry = "127.0.0.1:5000"\ntls = false\n')
    expect(regwiz("onboard", str(team), "--host", "root@127.0.0.1", "--ssh-password-env", "UNSET_SSH", env=env),
           2, "--ssh-password-env UNSET_SSH", "not set", "root@127.0.0.1")


# --- hostile values ---------------------------------------------------------------------------

HOSTILE_HOSTS = ["; touch {marker}", "$(touch {marker})", "`touch {marker}`", "h\n; touch {marker}",
                 "a" * 300, "١٢٧.٠.٠.١", "host name", "-oProxyCommand=touch {marker}"]
HOSTILE_USERS = ["; touch {marker}", "$(id)", "ro ot", "root\n; touch {marker}", "u" * 300, "ｒｏｏｔ"]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_hostile_hosts_are_refused_before_any_connection(host: str, env: dict[str, str], home: Path,
                                                         tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    host = host.format(marker=marker)
    profile = write(home, "hostile.toml", full_profile(host=host))
    for command in PROFILE_COMMANDS:
        expect(regwiz(command, "--profile", str(profile), env=env), 2, "host")
    team = write(home, "team.toml", '[team]\nregistry = "127.0.0.1:5000"\ntls = false\n')
    expect(regwiz("onboard", str(team), "--host", f"root@{host}", env=env), 2, "--host", "HOST")
    bad_registry = write(home, "team-hostile.toml", f"[team]\nregistry = {json.dumps(host + ':5000')}\n")
    expect(regwiz("onboard", str(bad_registry), env=env), 2, "registry")
    assert not marker.exists()


@pytest.mark.parametrize("user", HOSTILE_USERS)
def test_hostile_users_are_refused(user: str, env: dict[str, str], home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    user = user.format(marker=marker)
    profile = write(home, "hostile.toml", full_profile(user=user))
    for command in PROFILE_COMMANDS:
        expect(regwiz(command, "--profile", str(profile), env=env), 2, "user")
    team = write(home, "team.toml", '[team]\nregistry = "127.0.0.1:5000"\ntls = false\n')
    expect(regwiz("onboard", str(team), "--host", f"{user}@127.0.0.1", env=env), 2, "--host", "user")
    assert not marker.exists()


@pytest.mark.parametrize("port", ["ab", "２２", "²", "0", "65536", "22:22", "-1"])
def test_ports_that_are_not_numbers(port: str, env: dict[str, str], home: Path) -> None:
    team = write(home, "team.toml", '[team]\nregistry = "127.0.0.1:5000"\ntls = false\n')
    expect(regwiz("onboard", str(team), "--host", f"root@127.0.0.1:{port}", env=env), 2, "--host", "port")
    profile = write(home, "port.toml", f'[server]\nhost = "127.0.0.1"\nport = {json.dumps(port)}\n')
    for command in PROFILE_COMMANDS:
        expect(regwiz(command, "--profile", str(profile), env=env), 2, "server.port")
    registry = write(home, "team-port.toml", f'[team]\nregistry = "127.0.0.1:{port}"\ntls = false\n')
    expect(regwiz("onboard", str(registry), env=env), 2, "[team] registry")


@pytest.mark.parametrize("registry", ["nohost", ":5000", "host:", "[::1]:99999", "a:b:c"])
def test_a_team_profile_with_a_bad_registry_address(registry: str, env: dict[str, str], home: Path) -> None:
    team = write(home, "team.toml", f"[team]\nregistry = {json.dumps(registry)}\n")
    expect(regwiz("onboard", str(team), env=env), 2, "registry")


def test_export_refuses_bad_inputs(env: dict[str, str], home: Path) -> None:
    profile = write(home, "p.toml", '[server]\nhost = "10.0.0.5"\n[registry]\ntls = "none"\n'
                    '[[registry.users]]\nname = "ci"\n')
    expect(regwiz("export-team-profile", "--profile", str(profile), "--password-env", "not a name", env=env), 2,
           "--password-env", "NAME of an environment variable")
    expect(regwiz("export-team-profile", "--profile", str(profile), "--password-env", "$(id)", env=env), 2,
           "NAME of an environment variable")
    expect(regwiz("export-team-profile", "--profile", str(profile), "-o", str(home / "no" / "dir" / "t.toml"),
                  env=env), 2, "cannot write", "give -o a file in a folder you can write to")
    no_auth = write(home, "open.toml", '[server]\nhost = "10.0.0.5"\n[registry]\ntls = "none"\nauth = "none"\n')
    expect(regwiz("export-team-profile", "--profile", str(no_auth), "--password-env", "PW", env=env), 2,
           "no login", "leave --password-env out")
    nowhere = write(home, "local.toml", '[server]\nlocal = true\n[registry]\ntls = "none"\n')
    expect(regwiz("export-team-profile", "--profile", str(nowhere), env=env), 2, "registry.names")


def test_export_writes_password_env(env: dict[str, str], home: Path) -> None:
    profile = write(home, "p.toml", '[server]\nhost = "10.0.0.5"\n[registry]\ntls = "none"\n'
                    '[[registry.users]]\nname = "ci"\n')
    out = home / "team.toml"
    plain = regwiz("export-team-profile", "--profile", str(profile), "-o", str(out), env=env)
    assert plain.returncode == 0, plain.stderr
    assert "password_env" not in out.read_text() and 'username = "ci"' in out.read_text()
    assert "--password-env VAR" in plain.stderr  # the note: how teammates give the password
    named = regwiz("export-team-profile", "--profile", str(profile), "-o", str(out), "--password-env", "TEAM_PW",
                   env=env)
    assert named.returncode == 0, named.stderr
    assert 'password_env = "TEAM_PW"' in out.read_text()
    with_var = write(home, "q.toml", '[server]\nhost = "10.0.0.5"\n[registry]\ntls = "none"\n'
                     '[[registry.users]]\nname = "ci"\npassword_env = "CI_PW"\n')
    default = regwiz("export-team-profile", "--profile", str(with_var), env=env)
    assert default.returncode == 0 and 'password_env = "CI_PW"' in default.stdout


# --- unreachable hosts and registries ----------------------------------------------------------


@pytest.mark.parametrize("command", PROFILE_COMMANDS)
def test_an_unreachable_host_is_a_failure_with_advice(command: str, env: dict[str, str], home: Path,
                                                      closed_port: int) -> None:
    profile = write(home, "down.toml", full_profile(port=closed_port))
    result = regwiz(command, "--profile", str(profile), "--yes", env=env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.returncode == 1, output
    assert f"nothing listens on 127.0.0.1:{closed_port}: check the port" in output
    report = next(line for line in result.stdout.splitlines() if line.startswith("== report:"))
    assert "report.md" in report and "logs" in report  # where the report and logs are, not an empty line
    path = report.split()[2]
    assert Path(path).is_file()


def test_onboard_against_a_registry_that_does_not_answer(env: dict[str, str], home: Path,
                                                         closed_port: int) -> None:
    team = write(home, "team.toml", f'[team]\nregistry = "127.0.0.1:{closed_port}"\ntls = false\n')
    result = regwiz("onboard", str(team), "--host", "root@127.0.0.1:1", env=env)
    expect(result, 1, f"127.0.0.1:{closed_port}", "regwiz diagnose")
    assert "report.md" in result.stdout


# --- against the testbed's registry --------------------------------------------------------------


def _team_for(tls_registry, home: Path, extra: str = "") -> Path:  # type: ignore[no-untyped-def]
    ca = tls_registry.ca_pem.decode()
    return write(home, "team.toml", f'[team]\nregistry = "{tls_registry.address}"\nca_pem = """\n{ca}"""\n'
                 f'username = "{tls_registry.username}"\n{extra}')


def test_a_wrong_registry_password_names_where_it_came_from(tls_registry, env: dict[str, str], home: Path,  # type: ignore[no-untyped-def]
                                                            closed_port: int) -> None:
    team = _team_for(tls_registry, home, 'password_env = "TEAM_PW"\n')
    env["TEAM_PW"] = "not-the-password"
    wrong = regwiz("onboard", str(team), "--host", f"root@127.0.0.1:{closed_port}", env=env)
    expect(wrong, 1, f"the registry refused user {tls_registry.username}: check the password in $TEAM_PW")
    assert "not-the-password" not in wrong.stdout + wrong.stderr
    env["OTHER_PW"] = "also-wrong"
    other = regwiz("onboard", str(team), "--host", f"root@127.0.0.1:{closed_port}", "--password-env", "OTHER_PW",
                   "--json", env=env)
    expect(other, 1, "check the password in $OTHER_PW")
    assert [o for o in json_lines(other.stdout) if o["type"] == "error"][-1]["exit"] == 1
    # The right password: the registry takes it, and the unreachable client is the failure, with advice.
    env["TEAM_PW"] = tls_registry.password.reveal()
    right = regwiz("onboard", str(team), "--host", f"root@127.0.0.1:{closed_port}", "--json", env=env)
    assert "Traceback" not in right.stdout + right.stderr
    assert right.returncode == 1, right.stdout + right.stderr
    client = next(o for o in json_lines(right.stdout) if o["type"] == "client")
    assert client["status"] == "failure" and "check the port" in client["message"]
    assert tls_registry.password.reveal() not in right.stdout + right.stderr


def test_a_wrong_ca_is_a_failure_with_advice(tls_registry, env: dict[str, str], home: Path) -> None:  # type: ignore[no-untyped-def]
    from app import pki

    other_ca = pki.load_or_create_ca().cert_pem.decode()  # this test's own CA, not the registry's
    assert other_ca != tls_registry.ca_pem.decode()
    team = write(home, "team.toml", f'[team]\nregistry = "{tls_registry.address}"\nca_pem = """\n{other_ca}"""\n'
                 f'username = "{tls_registry.username}"\npassword_env = "TEAM_PW"\n')
    env["TEAM_PW"] = tls_registry.password.reveal()
    expect(regwiz("onboard", str(team), "--host", "root@127.0.0.1:1", env=env), 1, "ca_pem")


def test_a_bad_host_is_refused_before_a_password_is_needed(env: dict[str, str], home: Path) -> None:
    team = write(home, "team.toml", '[team]\nregistry = "127.0.0.1:5000"\ntls = false\nusername = "ci"\n')
    expect(regwiz("onboard", str(team), "--host", "root@$(id)", env=env), 2, "--host", "the host")
    bad = write(home, "bad.toml", '[team]\nregistry = "127.0.0.1:http"\nusername = "ci"\n')
    expect(regwiz("onboard", str(bad), env=env), 2, "HOST:PORT")


def test_team_target_takes_a_typed_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TUI's onboarding screen passes what the user typed; it wins over the environment."""
    from app.profiles import TeamProfile
    from app.redact import Redactor, Secret
    from app.session import SetupError, team_target

    team = TeamProfile(registry="10.0.0.5:5000", ca_pem=None, tls=False, username="ci", password_env="TEAM_PW")
    monkeypatch.setenv("TEAM_PW", "from-the-environment")
    redactor = Redactor()
    target = team_target(team, redactor, password=Secret("typed-secret"))
    assert target.password == Secret("typed-secret") and target.username == "ci"
    assert redactor("x typed-secret y") == "x ******** y"
    assert team_target(team, Redactor()).password == Secret("from-the-environment")
    monkeypatch.delenv("TEAM_PW")
    with pytest.raises(SetupError, match=r"TEAM_PW.*--password-env VAR"):
        team_target(team, Redactor())
    anonymous = TeamProfile(registry="[::1]:5000", ca_pem=None, tls=False)
    assert team_target(anonymous, None, password=Secret("unused")).password is None
    assert team_target(anonymous, None).host == "::1"
