"""Unit tests of the registry's day-two operations: the prune plan, push times, config, htpasswd, CLI input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app import htpasswd
from app.registry import config as regconfig
from app.registry import ops
from app.registry.client import INDEX_MEDIA, SCHEMA2, RegistryError
from app.registry.ops import OpsError, TagInfo, manifest_blobs, parse_pushed, plan_prune
from tests.cli_helpers import regwiz

MB = 1_000_000


def tag(repo: str, name: str, digest: str, pushed: float, **blobs: int) -> TagInfo:
    return TagInfo(repo, name, digest, SCHEMA2, sum(blobs.values()), {digest: 500, **blobs}, pushed)


def test_keep_n_deletes_all_but_the_newest_of_each_repository() -> None:
    tags = [tag("app", f"v{i}", f"m{i}", float(i), **{f"l{i}": MB, f"c{i}": 300}) for i in range(1, 7)]
    tags.append(tag("other", "only", "mo", 1.0, lo=MB))
    plan = plan_prune(tags, keep=2)
    assert sorted(p.info.tag for p in plan.delete) == ["v1", "v2", "v3", "v4"]
    assert {t.tag for t in plan.kept} == {"v5", "v6", "only"}
    assert plan.freed_bytes == 4 * (MB + 300 + 500)  # layer, config and manifest of each
    assert all(p.frees == MB + 800 and not p.note for p in plan.delete)


def test_layers_of_kept_tags_do_not_count_and_the_plan_says_about_nothing() -> None:
    kept = tag("app", "new", "m2", 2.0, layer=5 * MB, c2=300)
    twin = tag("app", "old", "m1", 1.0, layer=5 * MB, c1=280)  # the same layer, another config
    plan = plan_prune([kept, twin], keep=1)
    [planned] = plan.delete
    assert planned.info.tag == "old" and planned.frees == 280 + 500
    assert "about nothing" in planned.note and "1 of its 2 blobs are used by kept tags" in planned.note


def test_a_manifest_shared_with_a_kept_tag_is_never_deleted() -> None:
    latest = tag("app", "latest", "same", 3.0, layer=MB)
    older_alias = tag("app", "v1", "same", 1.0, layer=MB)  # the same manifest, pushed earlier under v1
    gone = tag("app", "v0", "m0", 0.5, other=MB)
    plan = plan_prune([latest, older_alias, gone], keep=1)
    assert [p.info.tag for p in plan.delete] == ["v0"]
    assert plan.manifests == [("app", "m0")]
    assert [(t.tag, "latest" in why) for t, why in plan.spared] == [("v1", True)]


def test_blobs_shared_between_deleted_tags_count_once() -> None:
    tags = [tag("app", "a", "ma", 1.0, shared=MB), tag("app", "b", "mb", 2.0, shared=MB),
            tag("app", "c", "mc", 3.0, own=10)]
    plan = plan_prune(tags, keep=1)
    assert plan.freed_bytes == MB + 500 + 500
    assert sum(p.frees for p in plan.delete) == plan.freed_bytes


def test_repo_filter_keeps_other_repositories_and_their_blobs() -> None:
    tags = [tag("app", "a", "ma", 1.0, shared=MB), tag("app", "b", "mb", 2.0, x=10),
            tag("lib", "z", "mz", 0.0, shared=MB)]
    plan = plan_prune(tags, keep=1, repository="app")
    assert [p.info.tag for p in plan.delete] == ["a"]
    assert plan.freed_bytes == 500  # its layer lives on in lib:z


def test_older_than_and_unknown_push_times() -> None:
    day = 86400.0
    tags = [tag("app", "old", "m1", 100 * day, l1=1), tag("app", "new", "m2", 109.5 * day, l2=1)]
    plan = plan_prune(tags, older_than_days=7, now=110 * day)
    assert [p.info.tag for p in plan.delete] == ["old"]
    assert plan_prune(tags, older_than_days=11, now=110 * day).delete == []
    with pytest.raises(OpsError, match="does not say when"):
        plan_prune([tag("app", "t", "m", 0.0), TagInfo("app", "u", "n", SCHEMA2, 0, {}, None)], keep=1)
    with pytest.raises(ValueError):
        plan_prune(tags)


def test_push_times_come_from_the_link_files() -> None:
    text = ("1700000000.5 library/app/_manifests/tags/v1/current/link\n"
            "1700000100.0 app/_manifests/tags/latest/current/link\n"
            "garbage line\n")
    assert parse_pushed(text) == {("library/app", "v1"): 1700000000.5, ("app", "latest"): 1700000100.0}


def test_manifest_blobs_of_a_manifest_and_an_index() -> None:
    manifest = {"schemaVersion": 2, "mediaType": SCHEMA2, "config": {"digest": "sha256:c", "size": 7},
                "layers": [{"digest": "sha256:a", "size": 100}, {"digest": "sha256:b", "size": 50}]}
    media, blobs, children = manifest_blobs(json.dumps(manifest).encode(), "x")
    assert (media, blobs, children) == (SCHEMA2, {"sha256:c": 7, "sha256:a": 100, "sha256:b": 50}, [])
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA[1],
             "manifests": [{"digest": "sha256:p1", "size": 400}, {"digest": "sha256:p2", "size": 410}]}
    assert manifest_blobs(json.dumps(index).encode(), "x")[2] == [("sha256:p1", 400), ("sha256:p2", 410)]
    with pytest.raises(RegistryError):
        manifest_blobs(b"not json", "x")


def test_config_turns_deletes_on_and_no_blob_cache() -> None:
    """The prune keeps the registry serving during its collection, so regwiz's config.yml has no blob
    descriptor cache (it would go on listing swept blobs: distribution#1803, #2966, #4569); a config
    written before (with the cache) is recognised, and then the prune restarts the registry after."""
    text = regconfig.render_config(regconfig.RegistrySettings())
    assert regconfig.delete_enabled(text) and not ops.blob_cache_enabled(text)
    assert not regconfig.delete_enabled(regconfig.render_config(regconfig.RegistrySettings(delete_enabled=False)))
    older = text.replace("  delete:\n", '  cache:\n    blobdescriptor: "inmemory"\n  delete:\n')
    assert older != text and ops.blob_cache_enabled(older) and regconfig.delete_enabled(older)


def test_htpasswd_one_user_at_a_time() -> None:
    one = htpasswd.add_user("", "ci", "first-pass", rounds=4)
    two = htpasswd.add_user(one, "bob", "bob-pass", rounds=4)
    assert list(htpasswd.parse(two)) == ["ci", "bob"]
    with pytest.raises(htpasswd.HtpasswdError, match="exists already"):
        htpasswd.add_user(two, "bob", "x", rounds=4)
    rotated = htpasswd.set_password(two, "bob", "new-pass", rounds=4)
    entries = htpasswd.parse(rotated)
    assert htpasswd.verify_password("new-pass", entries["bob"])
    assert not htpasswd.verify_password("bob-pass", entries["bob"])
    assert entries["ci"] == htpasswd.parse(two)["ci"]  # the others untouched, byte for byte
    assert list(htpasswd.parse(htpasswd.remove_user(rotated, "bob"))) == ["ci"]
    with pytest.raises(htpasswd.HtpasswdError, match="only user"):
        htpasswd.remove_user(one, "ci")
    with pytest.raises(htpasswd.HtpasswdError, match="no registry user"):
        htpasswd.set_password(one, "ghost", "x", rounds=4)


@pytest.mark.parametrize("argv, says", [
    (("registry", "prune", "--profile", "p"), "one of the arguments --keep --older-than"),
    (("registry", "prune", "--profile", "p", "--keep", "0"), "keep at least 1"),
    (("registry", "prune", "--profile", "p", "--keep", "2", "--repo", "Bad Name"), "not a repository name"),
    (("registry", "users", "--profile", "p", "add", "bob"), "--password-env"),
    (("registry", "users", "--profile", "p", "add", "bad:name", "--password-env", "V"), "Invalid registry user name"),
    (("registry", "users", "--profile", "p", "add", "bob", "--password-env", "UNSET_VAR_X"), "not set"),
    (("registry", "users", "remove", "bob"), "--profile NAME_OR_PATH is needed"),
    (("registry", "ls", "--profile", "no-such-profile"), "no profile named"),
    (("cert", "renew", "--profile", "no-such-profile"), "no profile named"),
])
def test_bad_input_is_exit_2_in_one_line(argv: tuple[str, ...], says: str, regwiz_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "UNSET_VAR_X"}
    result = regwiz(*argv, env={**env, "REGWIZ_HOME": str(regwiz_home)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


def test_profile_may_come_after_the_users_action(regwiz_home: Path) -> None:
    env = {**os.environ, "REGWIZ_HOME": str(regwiz_home), "NEWPW": "a-password"}
    result = regwiz("registry", "users", "add", "bob", "--password-env", "NEWPW", "--profile", "nope", env=env)
    assert result.returncode == 2 and "no profile named 'nope'" in result.stderr, result.stderr
    assert "a-password" not in result.stdout + result.stderr
