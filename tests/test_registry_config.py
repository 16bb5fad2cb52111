"""The registry's config.yml and the tiny YAML emitter behind it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from app.registry.config import (
    CONTAINER_CERT,
    CONTAINER_HTPASSWD,
    FilesystemStorage,
    OSSStorage,
    RegistrySettings,
    config_digest,
    quote,
    render_config,
    to_yaml,
)

DEFAULT_CONFIG = """\
version: "0.1"
log:
  fields:
    service: "registry"
storage:
  filesystem:
    rootdirectory: "/var/lib/registry"
  delete:
    enabled: true
http:
  addr: ":5000"
  headers:
    X-Content-Type-Options:
      - "nosniff"
  tls:
    certificate: "/etc/regwiz/certs/server.crt"
    key: "/etc/regwiz/certs/server.key"
auth:
  htpasswd:
    realm: "regwiz"
    path: "/etc/regwiz/auth/htpasswd"
health:
  storagedriver:
    enabled: true
    interval: "10s"
    threshold: 3
"""

OSS = OSSStorage(
    bucket="my-bucket",
    region="oss-cn-hangzhou",
    access_key_id="LTAIexampleid",
    access_key_secret="TopSecretValue42",
    endpoint="my-bucket.oss-cn-hangzhou-internal.aliyuncs.com",
    internal=True,
)


def test_default_config_exact_text() -> None:
    assert render_config(RegistrySettings()) == DEFAULT_CONFIG


def test_provided_tls_renders_the_same_tls_block() -> None:
    assert render_config(RegistrySettings(tls="provided")) == DEFAULT_CONFIG


def test_tls_none_has_no_tls_block() -> None:
    text = render_config(RegistrySettings(tls="none"))
    assert "tls:" not in text and CONTAINER_CERT not in text
    assert text == DEFAULT_CONFIG.replace(
        '  tls:\n    certificate: "/etc/regwiz/certs/server.crt"\n    key: "/etc/regwiz/certs/server.key"\n', ""
    )


def test_auth_none_has_no_auth_block() -> None:
    text = render_config(RegistrySettings(auth="none"))
    assert "auth:" not in text and CONTAINER_HTPASSWD not in text
    assert "htpasswd" not in text


def test_delete_disabled_has_no_delete_block() -> None:
    assert "delete:" not in render_config(RegistrySettings(delete_enabled=False))


def test_cache_mode_has_proxy_block() -> None:
    text = render_config(RegistrySettings(mode="cache", proxy_remote_url="https://mirror.example:8443"))
    assert 'proxy:\n  remoteurl: "https://mirror.example:8443"\nhealth:' in text
    assert "username" not in text and "password" not in text
    assert "proxy:" not in render_config(RegistrySettings())


def test_cache_mode_with_upstream_credentials() -> None:
    settings = RegistrySettings(mode="cache", proxy_username="hubuser", proxy_password="hub-token")
    text = render_config(settings)
    assert (
        'proxy:\n  remoteurl: "https://registry-1.docker.io"\n  username: "hubuser"\n  password: "hub-token"\n'
        in text
    )
    assert "hub-token" not in repr(settings)


def test_oss_storage_block() -> None:
    settings = RegistrySettings(storage=OSS)
    text = render_config(settings)
    assert (
        "storage:\n"
        "  oss:\n"
        '    accesskeyid: "LTAIexampleid"\n'
        '    accesskeysecret: "TopSecretValue42"\n'
        '    region: "oss-cn-hangzhou"\n'
        '    bucket: "my-bucket"\n'
        '    endpoint: "my-bucket.oss-cn-hangzhou-internal.aliyuncs.com"\n'
        "    internal: true\n"
        "    encrypt: false\n"
        "    secure: true\n"
        '    rootdirectory: "/registry"\n'
        "  delete:\n"
    ) in text
    assert "filesystem" not in text
    assert "TopSecretValue42" not in repr(settings) and "TopSecretValue42" not in repr(OSS)
    assert "LTAIexampleid" in repr(OSS)  # the id is not a secret; only the secret is hidden


def test_oss_without_endpoint_omits_it() -> None:
    text = render_config(RegistrySettings(storage=dataclasses.replace(OSS, endpoint=None, internal=False)))
    assert "endpoint" not in text and "    internal: false\n" in text


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "back\\slash", "two\nlines", "tab\there", "nul\x00bell\x07", "del\x7fnel\x85",
     "ls\u2028ps\u2029", "ünïcödé 密码 😀", "", "  lead and trail  ", "#not a comment", "key: value",
     "- item", "'single'", "yes", "null"],
)
def test_strings_are_quoted_and_escaped(text: str) -> None:
    quoted = quote(text)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert json.loads(quoted) == text
    assert "\n" not in quoted and "\r" not in quoted and "\x85" not in quoted and "\u2028" not in quoted


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        quote("bad\ud800")


def test_secret_with_special_characters_is_escaped_in_config() -> None:
    secret = 'a"b\\c\nd'
    text = render_config(RegistrySettings(storage=dataclasses.replace(OSS, access_key_secret=secret)))
    line = next(row for row in text.splitlines() if "accesskeysecret" in row)
    assert json.loads(line.split(": ", 1)[1]) == secret


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1, "b": True, "c": None, "d": "x"}, 'a: 1\nb: true\nc: null\nd: "x"\n'),
        ({"outer": {"inner": {"leaf": False}}}, "outer:\n  inner:\n    leaf: false\n"),
        ({"list": ["a", 2]}, 'list:\n  - "a"\n  - 2\n'),
        ([{"k": 1, "l": [1, 2]}, ["x", ["y"]]], '- k: 1\n  l:\n    - 1\n    - 2\n- - "x"\n  - - "y"\n'),
        ({"empty": {}, "none": []}, "empty: {}\nnone: []\n"),
        (
            {"on": 1, "y": 2, "Yes": 3, "with space": 4, "X-Header": 5},
            '"on": 1\n"y": 2\n"Yes": 3\n"with space": 4\nX-Header: 5\n',
        ),
        ("top", '"top"\n'),
        ({"a": {"b": 1}}, "a:\n  b: 1\n"),
    ],
)
def test_to_yaml_exact(value: object, expected: str) -> None:
    assert to_yaml(value) == expected  # type: ignore[arg-type]


def test_to_yaml_indent_and_bad_types() -> None:
    assert to_yaml({"a": {"b": 1}}, indent=4) == "    a:\n      b: 1\n"
    with pytest.raises(TypeError):
        to_yaml({"a": 1.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        to_yaml({1: "a"})  # type: ignore[dict-item]


def test_default_settings_are_valid() -> None:
    assert RegistrySettings().validate() == []
    assert RegistrySettings(storage=OSS, mode="cache", proxy_username="u", proxy_password="p").validate() == []


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (RegistrySettings(port=0), "Port"),
        (RegistrySettings(port=65536), "Port"),
        (RegistrySettings(port=True), "Port"),
        (RegistrySettings(tls="letsencrypt"), "TLS"),
        (RegistrySettings(auth="token"), "Authentication"),
        (RegistrySettings(mode="mirror"), "Mode"),
        (RegistrySettings(mode="cache", proxy_remote_url="registry-1.docker.io"), "Upstream registry URL"),
        (RegistrySettings(mode="cache", proxy_remote_url="ftp://x.example"), "Upstream registry URL"),
        (RegistrySettings(mode="cache", proxy_remote_url="https://"), "Upstream registry URL"),
        (RegistrySettings(mode="cache", proxy_username="u"), "go together"),
        (RegistrySettings(storage=dataclasses.replace(OSS, region="cn-hangzhou")), "OSS region"),
        (RegistrySettings(storage=dataclasses.replace(OSS, region="")), "OSS region"),
        (RegistrySettings(storage=dataclasses.replace(OSS, bucket=" ")), "OSS bucket"),
        (RegistrySettings(storage=dataclasses.replace(OSS, access_key_secret="")), "AccessKey"),
        (RegistrySettings(storage=dataclasses.replace(OSS, root_directory="registry")), "root directory"),
        (RegistrySettings(storage=FilesystemStorage("data/registry")), "absolute"),
    ],
)
def test_validate_catches(settings: RegistrySettings, fragment: str) -> None:
    problems = settings.validate()
    assert len(problems) == 1 and fragment in problems[0], problems


def test_bad_url_in_private_mode_is_not_reported() -> None:
    assert RegistrySettings(proxy_remote_url="nonsense").validate() == []


def test_config_digest_changes_with_every_setting() -> None:
    variants = [
        RegistrySettings(),
        RegistrySettings(tls="none"),
        RegistrySettings(auth="none"),
        RegistrySettings(mode="cache"),
        RegistrySettings(mode="cache", proxy_remote_url="https://mirror.example"),
        RegistrySettings(mode="cache", proxy_username="u", proxy_password="p"),
        RegistrySettings(mode="cache", proxy_username="u", proxy_password="q"),
        RegistrySettings(delete_enabled=False),
        RegistrySettings(storage=OSS),
        RegistrySettings(storage=dataclasses.replace(OSS, access_key_secret="rotated")),
        RegistrySettings(storage=dataclasses.replace(OSS, internal=False)),
    ]
    digests = [config_digest(render_config(s)) for s in variants]
    assert len(set(digests)) == len(variants)
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests)
    assert config_digest(render_config(RegistrySettings())) == digests[0]  # deterministic
