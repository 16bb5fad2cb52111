"""htpasswd entries: bcrypt, validation and churn-free reconciliation."""

from __future__ import annotations

import bcrypt
import pytest

from app import htpasswd

ROUNDS = 4  # bcrypt's minimum: keeps the tests fast


def test_hash_is_2y_and_verifies() -> None:
    hashed = htpasswd.hash_password("s3cret", rounds=ROUNDS)
    assert hashed.startswith("$2y$04$") and len(hashed) == 60
    assert htpasswd.verify_password("s3cret", hashed)
    assert not htpasswd.verify_password("s3cret!", hashed)
    assert not htpasswd.verify_password("", hashed)


def test_verify_accepts_every_bcrypt_prefix() -> None:
    body = bcrypt.hashpw(b"pw", bcrypt.gensalt(ROUNDS)).decode()[4:]
    for prefix in ("$2y$", "$2b$", "$2a$"):
        assert htpasswd.verify_password("pw", prefix + body), prefix
    assert not htpasswd.verify_password("pw", "$1$" + body)  # md5-crypt: distribution refuses it too
    assert not htpasswd.verify_password("pw", "$2y$garbage")
    assert not htpasswd.verify_password("pw", "{SHA}abc")


def test_non_ascii_password_round_trips() -> None:
    hashed = htpasswd.hash_password("pässwörd-密码", rounds=ROUNDS)
    assert htpasswd.verify_password("pässwörd-密码", hashed)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "empty"),
        ("a\nb", "line break"),
        ("a\rb", "line break"),
        ("a\0b", "NUL"),
        ("x" * 73, "73 bytes"),
        ("é" * 37, "74 bytes"),  # 37 characters, but 74 bytes in UTF-8
    ],
)
def test_bad_passwords_are_refused(password: str, message: str) -> None:
    with pytest.raises(htpasswd.HtpasswdError, match=message):
        htpasswd.validate_password(password)
    with pytest.raises(htpasswd.HtpasswdError):
        htpasswd.hash_password(password, rounds=ROUNDS)


def test_72_bytes_is_the_limit_not_truncated() -> None:
    htpasswd.validate_password("x" * 72)
    hashed = htpasswd.hash_password("x" * 72, rounds=ROUNDS)
    assert htpasswd.verify_password("x" * 72, hashed)


@pytest.mark.parametrize("name", ["alice", "ci.bot", "a", "under_score", "A-1", "x" * 64, "_svc", ".dot"])
def test_good_usernames(name: str) -> None:
    htpasswd.validate_username(name)


@pytest.mark.parametrize(
    "name", ["", "al:ice", "al\nice", "alice\n", "al ice", " alice", "-alice", "x" * 65, "élise", "a/b"]
)
def test_bad_usernames(name: str) -> None:
    with pytest.raises(htpasswd.HtpasswdError, match="user name"):
        htpasswd.validate_username(name)


def test_hash_refuses_silly_rounds() -> None:
    with pytest.raises(htpasswd.HtpasswdError, match="rounds"):
        htpasswd.hash_password("pw", rounds=3)


def test_parse_and_render_round_trip() -> None:
    text = "# regwiz\n\nalice:$2y$04$aaa\n  bob:$2y$04$bbb  \r\ncarol:$2y$04$c:c\n"
    entries = htpasswd.parse(text)
    assert list(entries) == ["alice", "bob", "carol"]
    assert entries["carol"] == "$2y$04$c:c"  # only the first ':' separates
    rendered = htpasswd.render(entries)
    assert rendered == "alice:$2y$04$aaa\nbob:$2y$04$bbb\ncarol:$2y$04$c:c\n"
    assert htpasswd.parse(rendered) == entries
    assert htpasswd.render({}) == "" and htpasswd.parse("") == {}


def test_parse_refuses_a_line_without_colon() -> None:
    with pytest.raises(htpasswd.HtpasswdError, match="line 2"):
        htpasswd.parse("alice:x\nbob\n")


def test_render_refuses_bad_names() -> None:
    with pytest.raises(htpasswd.HtpasswdError):
        htpasswd.render({"al:ice": "$2y$04$x"})


def test_reconcile_keeps_changes_removes_and_adds() -> None:
    alice = htpasswd.hash_password("alice-pw", rounds=ROUNDS)
    bob = htpasswd.hash_password("bob-pw", rounds=ROUNDS)
    carol = htpasswd.hash_password("carol-pw", rounds=ROUNDS)
    existing = htpasswd.render({"carol": carol, "alice": alice, "bob": bob})

    result = htpasswd.parse(
        htpasswd.reconcile(existing, {"dave": "dave-pw", "alice": "alice-pw", "carol": "new-pw"}, rounds=ROUNDS)
    )
    assert list(result) == ["carol", "alice", "dave"]  # existing order, then new users; bob removed
    assert result["alice"] == alice  # unchanged password: byte-identical hash
    assert result["carol"] != carol and htpasswd.verify_password("new-pw", result["carol"])
    assert result["dave"].startswith("$2y$") and htpasswd.verify_password("dave-pw", result["dave"])


def test_reconcile_is_idempotent() -> None:
    wanted = {"alice": "alice-pw", "bob": "bob-pw"}
    first = htpasswd.reconcile(None, wanted, rounds=ROUNDS)
    assert htpasswd.reconcile(first, wanted, rounds=ROUNDS) == first
    assert htpasswd.reconcile(first, {}, rounds=ROUNDS) == ""


def test_reconcile_keeps_a_2b_hash_as_it_is() -> None:
    legacy = bcrypt.hashpw(b"pw", bcrypt.gensalt(ROUNDS)).decode()
    assert htpasswd.reconcile(f"alice:{legacy}\n", {"alice": "pw"}, rounds=ROUNDS) == f"alice:{legacy}\n"


@pytest.mark.parametrize("wanted", [{"bad name": "pw"}, {"alice": ""}, {"alice": "x" * 73}])
def test_reconcile_validates(wanted: dict[str, str]) -> None:
    with pytest.raises(htpasswd.HtpasswdError):
        htpasswd.reconcile(None, wanted, rounds=ROUNDS)
