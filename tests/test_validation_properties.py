"""Every input field's validation, fed arbitrary text: a message or None, never an exception."""

from __future__ import annotations

import shlex

from hypothesis import given, settings, strategies as st

from app import htpasswd
from app.targets import HostForm, validate_host, validate_key_file, validate_port, validate_user

ANY_TEXT = st.text(max_size=300)
HOSTILE = st.sampled_from(["$(touch /tmp/pwned)", "`id`", "; rm -rf /", "a\nb", "'\"", "ä😀", "-oProxyCommand=x",
                           "../../etc/passwd", "host name", ""])


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, HOSTILE))
def test_field_validators_answer_with_a_message_or_none(value: str) -> None:
    for check in (validate_host, validate_port, validate_user, validate_key_file):
        result = check(value)
        assert result is None or (isinstance(result, str) and result)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, HOSTILE))
def test_accepted_hosts_and_users_need_no_quoting(value: str) -> None:
    """Whatever passes validation is inert in a shell even before regwiz quotes it."""
    if validate_host(value) is None:
        assert shlex.quote(value.strip()) == value.strip()
        assert not value.strip().startswith("-")
    if validate_user(value) is None:
        name = value.strip()
        assert not name.startswith("-") and all(c.isalnum() or c in "_.-$" for c in name)


@settings(max_examples=200, deadline=None)
@given(host=st.one_of(ANY_TEXT, HOSTILE), user=st.one_of(ANY_TEXT, HOSTILE), port=st.integers(-5, 70000),
       auth=st.sampled_from(["password", "key", "agent"]))
def test_host_form_errors_never_raise(host: str, user: str, port: int, auth: str) -> None:
    errors = HostForm(host=host, port=port, user=user, auth=auth).errors()
    assert isinstance(errors, dict) and all(isinstance(v, str) and v for v in errors.values())


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, HOSTILE))
def test_registry_user_names_and_passwords_are_checked_not_crashed(value: str) -> None:
    for check in (htpasswd.validate_username, htpasswd.validate_password):
        try:
            check(value)
        except htpasswd.HtpasswdError as exc:
            assert str(exc)
    try:
        htpasswd.validate_username(value)
    except htpasswd.HtpasswdError:
        return
    assert ":" not in value and "\n" not in value  # an accepted name cannot break the htpasswd file


def _declared_keys() -> list[tuple[str, tuple]]:
    """Every value key of the profile's declaration, named by its TOML path, with its checks in order."""
    from app.profile_schema import Schema
    from app.profiles import Profile

    found: list[tuple[str, tuple]] = []

    def walk(schema: Schema, prefix: str) -> None:
        for key in schema.keys:
            if key.sub is not None:
                walk(key.sub, f"{prefix}{key.name}.")
            else:
                found.append((f"{prefix}{key.name}", key.decl.check))

    walk(Schema.of(Profile), "")
    return found


TOML_VALUES = st.recursive(
    st.booleans() | st.integers() | st.floats() | ANY_TEXT | HOSTILE,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


def test_the_declaration_checks_every_key() -> None:
    keys = dict(_declared_keys())
    assert {"server.port", "registry.names", "registry.users.name", "clients.kind", "team.ca_pem"} <= set(keys)
    assert all(keys.values()), [name for name, checks in keys.items() if not checks]


@settings(max_examples=300, deadline=None)
@given(TOML_VALUES)
def test_every_declared_key_answers_any_value_with_a_message_or_none(found: object) -> None:
    """A key's checks, run in order as the reader runs them (its type first), never raise."""
    from app.profile_schema import Problem

    for name, checks in _declared_keys():
        for check in checks:
            answer = check(found)
            assert answer is None or (isinstance(answer, str) and answer) or (
                isinstance(answer, Problem) and answer.message), (name, found, answer)
            if answer:
                break
