"""The benchmarks' floors (benchmarks/floor.py, the floor column of benchmarks/common.py's table) and the
testbed containers' CPU counters (benchmarks/hosts.py): parsing and ratios, without hosts. The floors'
runs themselves run in `./dev bench` (the shared checkers prove their end state there)."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from benchmarks import floor
from benchmarks.common import NAN, Figure, selected, table
from benchmarks.hosts import ContainersCPU, cgroup_cpu_file, parse_cgroup_cpu


def test_marks_are_read_back_and_other_lines_ignored() -> None:
    text = ("@floor connected 1764620000.10\nLoaded image: x\n@floor dockerd 1764620001.60\n"
            "@floor broken notanumber\n@floor too many 1 2\n")
    assert floor.parse_marks(text) == {"connected": 1764620000.10, "dockerd": 1764620001.60}


def test_split_gives_each_part_whose_marks_were_seen() -> None:
    marks = {"registry": {"start": 100.0, "secrets": 100.1, "connected": 100.3, "files": 100.4, "dockerd": 102.4},
             "client": {"trusted": 100.5, "registry_up": 104.0, "login": 104.5}}
    parts = dict(floor.split(marks))
    assert parts["dockerd restart"] == pytest.approx(2.0)
    assert parts["SSH login to the registry host"] == pytest.approx(0.2)
    assert parts["client login"] == pytest.approx(0.5)
    assert "client pull" not in parts  # no "pulled" mark
    assert "image load (docker save streamed) and tag" not in parts
    note = floor.split_note(floor.split(marks), 5.0)
    assert note.startswith("the floor's 5.00 s: secrets") and "dockerd restart 2.00 s" in note


def _payload(script: str) -> tarfile.TarFile:
    encoded = re.search(r"printf %s (\S+) \| base64 -d", script)
    assert encoded is not None
    return tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded.group(1))))


def test_registry_script_writes_the_playbooks_files_and_an_image_in_the_registrys_layout() -> None:
    secrets = floor.Secrets(b"CA\n", b"CERT\n", b"KEY\n", b"ci:$2y$10$x\n")
    script = floor.registry_script(secrets, "regwiz-testbed/registry:abc")
    members = {m.name: m for m in _payload(script).getmembers()}
    tar = _payload(script)
    assert json.loads(tar.extractfile("etc/docker/daemon.json").read()) == {  # type: ignore[union-attr]
        "bip": "10.200.0.1/24", "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}]}
    assert members["etc/docker-registry"].isdir() and members["etc/docker-registry"].mode == 0o700
    assert members["etc/docker-registry/server.key"].mode == 0o600
    assert members["etc/docker-registry/htpasswd"].mode == 0o600
    assert members["etc/docker-registry/server.crt"].mode == 0o644
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert not any(name in members for name in ("etc", "var", "etc/docker"))  # no mode of /etc is touched
    repo = "var/lib/registry/docker/registry/v2/repositories/floor/hello"
    current = tar.extractfile(f"{repo}/_manifests/tags/latest/current/link").read().decode()  # type: ignore[union-attr]
    digest = current.removeprefix("sha256:")
    manifest = tar.extractfile(  # type: ignore[union-attr]
        f"var/lib/registry/docker/registry/v2/blobs/sha256/{digest[:2]}/{digest}/data").read()
    for layer in [json.loads(manifest)["config"], *json.loads(manifest)["layers"]]:
        hexdigest = layer["digest"].removeprefix("sha256:")
        assert f"{repo}/_layers/sha256/{hexdigest}/link" in members
        assert f"var/lib/registry/docker/registry/v2/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data" in members
    # the order that matters: files, dockerd, the image (stdin), the registry, its answer
    order = [script.index(word) for word in ("base64 -d", "systemctl restart docker", "docker load",
                                             "docker tag regwiz-testbed/registry:abc registry:2", "docker run",
                                             "m answers")]
    assert order == sorted(order)
    assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0


def test_client_script_waits_for_the_registry_and_its_turn_before_logging_in() -> None:
    script = floor.client_script(b"-----BEGIN CERTIFICATE-----\nx\n", "10.0.0.2:5000", "ci",
                                 "10.0.0.2:5000/regwiz/hello:latest", gate=True)
    order = [script.index(word) for word in ("certs.d/10.0.0.2:5000/ca.crt", "--cacert", "read -r go",
                                             "docker login 10.0.0.2:5000 -u ci --password-stdin", "docker pull")]
    assert order == sorted(order)
    assert "read -r go" not in floor.client_script(b"x", "r:5000", "ci", "r:5000/i:latest")
    assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0


def test_floor_ratio_says_whether_a_goal_is_reachable() -> None:
    out_of_reach = Figure("end to end vs Ansible", 6.0, 10.0, "s", "<= 0.3x", 0.3, floor=4.0)
    assert out_of_reach.floor_ratio == pytest.approx(0.4) and out_of_reach.reachable is False
    assert Figure("x", 6.0, 10.0, "s", "<= 0.5x", 0.5, floor=4.0).reachable is True
    rate = Figure("live logs", 100.0, 200.0, "lines/s", ">= 0.65x", 0.65, higher_is_better=True, floor=120.0)
    assert rate.floor_ratio == pytest.approx(0.6) and rate.reachable is False
    assert Figure("x", 1.0, 2.0, "s", "<= 1x", 1.0).reachable is None  # no floor measured
    printed = table([out_of_reach, rate])
    assert "floor ratio" in printed and "0.40x" in printed and "NO (out of reach)" in printed


def test_a_figure_whose_regwiz_was_left_out_is_not_a_failure_but_an_error_still_is() -> None:
    skipped = Figure("fan-out 8 clients vs Ansible", NAN, 30.0, "s", "<= 0.5x", 0.5, floor=12.0)
    assert skipped.not_run and skipped.passed and "not run" in table([skipped])
    error = Figure("end_to_end", NAN, NAN, "", "error", 0, extra_pass=False)
    assert not error.not_run and not error.passed


def test_selected_tools_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = ("regwiz", "ansible", "pyinfra", "floor")
    monkeypatch.delenv("REGWIZ_BENCH_TOOLS", raising=False)
    assert selected(tools) == tools
    monkeypatch.setenv("REGWIZ_BENCH_TOOLS", "floor, ansible")
    assert selected(tools) == ("ansible", "floor")


def test_cgroup_counters_of_both_versions(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    (v1 / "cpuacct" / "docker" / "abc").mkdir(parents=True)
    (v1 / "cpuacct" / "docker" / "abc" / "cpuacct.usage").write_text("2500000000\n")
    v2 = tmp_path / "v2"
    (v2 / "system.slice" / "docker-def.scope").mkdir(parents=True)
    (v2 / "system.slice" / "docker-def.scope" / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    found_v1, found_v2 = cgroup_cpu_file("abc", v1), cgroup_cpu_file("def", v2)
    assert found_v1 is not None and found_v2 is not None
    assert parse_cgroup_cpu(found_v1.name, found_v1.read_text()) == pytest.approx(2.5)
    assert parse_cgroup_cpu(found_v2.name, found_v2.read_text()) == pytest.approx(1.5)
    assert cgroup_cpu_file("nothere", v1) is None
    with pytest.raises(ValueError):
        parse_cgroup_cpu("cpu.stat", "user_usec 1\n")


def test_containers_cpu_counts_a_nested_cgroup_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outer = tmp_path / "docker" / "outer"
    inner = outer / "docker" / "inner"
    beside = tmp_path / "docker" / "beside"
    for path, value in ((outer, "usage_usec 1000000\n"), (inner, "usage_usec 400000\n"),
                        (beside, "usage_usec 200000\n")):
        path.mkdir(parents=True)
        (path / "cpu.stat").write_text(value)
    monkeypatch.setattr("benchmarks.hosts.CGROUP_ROOT", tmp_path)
    paths = {"outer": outer / "cpu.stat", "inner": inner / "cpu.stat", "beside": beside / "cpu.stat"}
    monkeypatch.setattr("benchmarks.hosts.cgroup_cpu_file", lambda cid, root=tmp_path: paths.get(cid))
    cpu = ContainersCPU(["outer", "inner", "beside", "gone"])
    assert cpu.missing == ["gone"]
    (outer / "cpu.stat").write_text("usage_usec 3000000\n")  # the inner one's use is in the outer one's
    (inner / "cpu.stat").write_text("usage_usec 1400000\n")
    (beside / "cpu.stat").write_text("usage_usec 700000\n")
    assert cpu.used() == pytest.approx(2.0 + 0.5)


def test_live_logs_floor_expects_every_byte_of_the_command() -> None:
    from benchmarks import live_logs

    printed = subprocess.run(["sh", "-c", live_logs.COMMAND], capture_output=True, check=True).stdout
    assert live_logs.BYTES == len(printed) and printed.count(b"\n") == live_logs.LINES
