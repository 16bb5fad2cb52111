"""Pure parts of the clients step: flag and daemon.json edits, TOML files, error translation."""

from __future__ import annotations

import json
import tomllib

import pytest
from hypothesis import given, strategies as st

from app.clients.edits import add_flag, add_to_json_list, flag_values
from app.clients.errors import explain_pull_error
from app.clients.model import RegistryTarget
from app.clients.runtimes import containerd_config_with_path, hosts_toml, registries_conf

TLS = RegistryTarget("10.0.0.5", 5000, True, b"-----BEGIN CERTIFICATE-----\n")
PLAIN = RegistryTarget("10.0.0.5", 5000, False, None)


@pytest.mark.parametrize("before, after", [
    ('DOCKER_OPTS="--label=x"\n', 'DOCKER_OPTS="--label=x --insecure-registry h:5000"\n'),
    ("DOCKER_OPTS='--dns 8.8.8.8'\n", 'DOCKER_OPTS="--dns 8.8.8.8 --insecure-registry h:5000"\n'),
    ("# only a comment\n", '# only a comment\nDOCKER_OPTS="--insecure-registry h:5000"\n'),
    ("", 'DOCKER_OPTS="--insecure-registry h:5000"\n'),
    ('DOCKER_OPTS="--insecure-registry h:5000 --label=x"\n', 'DOCKER_OPTS="--insecure-registry h:5000 --label=x"\n'),
    ('DOCKER_OPTS="--insecure-registry=h:5000"\n', 'DOCKER_OPTS="--insecure-registry=h:5000"\n'),
    ('export DOCKER_OPTS="-H unix://"\nOTHER=1\n', 'export DOCKER_OPTS="-H unix:// --insecure-registry h:5000"\nOTHER=1\n'),
])
def test_add_flag_keeps_other_flags_and_never_duplicates(before: str, after: str) -> None:
    assert add_flag(before, "DOCKER_OPTS", "--insecure-registry", "h:5000") == after
    assert add_flag(after, "DOCKER_OPTS", "--insecure-registry", "h:5000") == after


def test_flag_values_reads_both_forms() -> None:
    text = 'EXTRA_ARGS="--insecure-registry a:1 --insecure-registry=b:2 --label x"\n'
    assert flag_values(text, "EXTRA_ARGS", "--insecure-registry") == ["a:1", "b:2"]


def test_daemon_json_list_merge_keeps_keys_and_dedupes() -> None:
    text = '{"labels": ["a"], "insecure-registries": ["x:1"]}'
    once = add_to_json_list(text, "insecure-registries", "h:5000")
    assert json.loads(once) == {"labels": ["a"], "insecure-registries": ["x:1", "h:5000"]}
    assert add_to_json_list(once, "insecure-registries", "h:5000") == once
    assert json.loads(add_to_json_list(None, "registry-mirrors", "https://h:5000")) == \
        {"registry-mirrors": ["https://h:5000"]}
    with pytest.raises(ValueError):
        add_to_json_list("{not json", "x", "y")


@given(st.lists(st.sampled_from(["--label=a", "--dns 1.1.1.1", "-H unix://", "--debug"]), max_size=4))
def test_add_flag_property(flags: list[str]) -> None:
    text = f'DOCKER_OPTS="{" ".join(flags)}"\n'
    once = add_flag(text, "DOCKER_OPTS", "--insecure-registry", "h:5000")
    assert add_flag(once, "DOCKER_OPTS", "--insecure-registry", "h:5000") == once
    assert flag_values(once, "DOCKER_OPTS", "--insecure-registry") == ["h:5000"]
    for flag in flags:
        assert flag in once


def test_containerd_hosts_toml_for_tls_and_insecure() -> None:
    tls = tomllib.loads(hosts_toml(TLS))
    assert tls["server"] == "https://10.0.0.5:5000"
    assert tls["host"]["https://10.0.0.5:5000"]["ca"] == "/etc/containerd/certs.d/10.0.0.5:5000/ca.crt"
    assert "skip_verify" not in tls["host"]["https://10.0.0.5:5000"]
    plain = tomllib.loads(hosts_toml(PLAIN))
    assert plain["server"] == "http://10.0.0.5:5000"
    assert plain["host"]["http://10.0.0.5:5000"]["skip_verify"] is True


def test_containerd_config_keeps_comments_and_settings() -> None:
    before = '# my notes\nversion = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause:3.6"\n'
    after = containerd_config_with_path(before)
    assert "# my notes" in after
    parsed = tomllib.loads(after)
    cri = parsed["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "pause:3.6"
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert containerd_config_with_path(after) == after
    fresh = tomllib.loads(containerd_config_with_path(None))
    assert fresh["version"] == 2


def test_podman_drop_in() -> None:
    assert tomllib.loads(registries_conf(PLAIN))["registry"] == [{"location": "10.0.0.5:5000", "insecure": True}]
    assert tomllib.loads(registries_conf(TLS))["registry"][0]["insecure"] is False


@pytest.mark.parametrize("message, cause", [
    ('Get "https://172.17.0.1:5000/v2/": http: server gave HTTP response to HTTPS client', "plain HTTP"),
    ("tls: oversized record received with length 20527", "plain HTTP"),
    ("x509: certificate signed by unknown authority", "does not trust the CA"),
    ("x509: cannot validate certificate for 10.0.0.5 because it doesn't contain any IP SANs", "IP SAN"),
    ("unauthorized: authentication required", "needs a login"),
    ("no basic auth credentials", "needs a login"),
])
def test_pull_errors_are_translated(message: str, cause: str) -> None:
    diagnosis = explain_pull_error(message, "10.0.0.5:5000")
    assert diagnosis is not None and cause in diagnosis.cause
    assert "10.0.0.5:5000" in diagnosis.fix or "re-issue" in diagnosis.fix or "TLS" in diagnosis.fix
    assert explain_pull_error("something else entirely", "h:1") is None


@pytest.mark.parametrize("said, retried", [
    # What `docker login` printed when dockerd gave up waiting (the fan-out benchmark at 32, README).
    ('Error response from daemon: Get "https://10.213.0.2:5000/v2/": context deadline exceeded', True),
    ('Error response from daemon: Get "https://10.213.0.2:5000/v2/": net/http: request canceled while waiting '
     'for connection (Client.Timeout exceeded while awaiting headers)', True),
    ('Error response from daemon: Get "https://10.213.0.2:5000/v2/": dial tcp 10.213.0.2:5000: i/o timeout', True),
    # The registry answered and refused: never tried again.
    ('Error response from daemon: Get "https://10.213.0.2:5000/v2/": unauthorized: authentication required', False),
    ("Error response from daemon: login attempt to https://10.213.0.2:5000/v2/ failed with status: "
     "401 Unauthorized", False),
    ("Error: logging into \"10.213.0.2:5000\": invalid username/password", False),  # podman
    ('Error response from daemon: Get "https://10.213.0.2:5000/v2/": dial tcp 10.213.0.2:5000: connect: '
     "connection refused", False),
])
def test_only_a_login_that_timed_out_waiting_for_the_registry_is_tried_again(said: str, retried: bool) -> None:
    from app.clients.kinds.base import login_timed_out

    assert login_timed_out(said) is retried
