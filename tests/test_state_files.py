"""madash's own state files are validated on read: a damaged record of the PKI is one clear error, a damaged
cache is rebuilt with a warning, and no name read from either becomes a path unchecked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, assert_one_line_error, bake_host, snapshot

Madash = Callable[..., Result]


def _index(site: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((site / "pki" / "index.json").read_text())
    return document


def _write_index(site: Path, document: object) -> None:
    (site / "pki" / "index.json").write_text(json.dumps(document))


def _entries(site: Path) -> list[dict[str, object]]:
    certificates = _index(site)["certificates"]
    assert isinstance(certificates, list)
    return certificates


def _edit_entry(key: str, value: object) -> Callable[[Path], None]:
    def edit(site: Path) -> None:
        document = _index(site)
        certificates = document["certificates"]
        assert isinstance(certificates, list)
        certificates[-1][key] = value
        _write_index(site, document)

    return edit


def _evil_client(site: Path) -> list[dict[str, object]]:
    return [*_entries(site), {**_entries(site)[-1], "kind": "client", "name": "../x", "serial": "abc"}]


INDEX_DAMAGE: dict[str, Callable[[Path], object]] = {
    "truncated": lambda site: (site / "pki" / "index.json").write_text('{"version": 1, "certif'),
    "not an object": lambda site: _write_index(site, [1, 2]),
    "another version": lambda site: _write_index(site, {**_index(site), "version": 9}),
    "crl_number a string": lambda site: _write_index(site, {**_index(site), "crl_number": "7"}),
    "crl_number negative": lambda site: _write_index(site, {**_index(site), "crl_number": -1}),
    "certificates not a list": lambda site: _write_index(site, {**_index(site), "certificates": {}}),
    "serial not hex": _edit_entry("serial", "zz"),
    "unknown kind": _edit_entry("kind", "intermediate"),
    "host name with a path": _edit_entry("name", "../../etc/passwd"),
    "client kind with a path": lambda site: _write_index(site, {**_index(site), "certificates": _evil_client(site)}),
    "subject with a newline": _edit_entry("subject", "CN=x\nEvil: yes"),
    "not_after not a time": _edit_entry("not_after", "tomorrow"),
    "revoked_at a number": _edit_entry("revoked_at", 5),
    "serial twice": lambda site: _write_index(site, {**_index(site), "certificates": _entries(site) * 2}),
    "deeply nested": lambda site: (site / "pki" / "index.json").write_text("[" * 100_000 + "]" * 100_000),
    "not UTF-8": lambda site: (site / "pki" / "index.json").write_bytes(b"\xff\xfe{}"),
}


@pytest.mark.parametrize("damage", INDEX_DAMAGE, ids=str)
@pytest.mark.parametrize("command", [["list"], ["client", "laptop"], ["server"], ["revoke", "laptop"]])
def test_a_damaged_index_is_one_clear_error(site_dir: Path, madash: Madash, damage: str, command: list[str]) -> None:
    INDEX_DAMAGE[damage](site_dir)
    before = snapshot(site_dir)
    result = madash("--site", site_dir, *command)
    assert_one_line_error(result, 1 if "index.json" in result.err else 2)
    assert "index.json" in result.err or command == ["revoke", "laptop"], result.err
    assert snapshot(site_dir) == before


BUILDS_DAMAGE: dict[str, object] = {
    "a name with a path": {"../../tmp/evil": {"digest": "0" * 64, "version": "1", "epoch": 1}},
    "a version with a slash": {"madash-client-laptop": {"digest": "0" * 64, "version": "1/../../x", "epoch": 1}},
    "a conffile outside /etc": {
        "madash-client-laptop": {"digest": "0" * 64, "version": "1", "epoch": 1, "conffiles": ["/usr/bin/sudo"]}
    },
    "a conffile with a space": {
        "madash-client-laptop": {"digest": "0" * 64, "version": "1", "epoch": 1, "conffiles": ["/etc/a b"]}
    },
    "an unknown key": {"madash-client-laptop": {"digest": "0" * 64, "version": "1", "epoch": 1, "shell": "x"}},
    # The version goes into a maintainer script as rm_conffile's prior-version, the path must be one of its conffiles.
    "a prior version with a command": {
        "madash-client-laptop": {
            "digest": "0" * 64,
            "version": "1",
            "epoch": 1,
            "conffiles": ["/etc/a"],
            "shipped_until": [["/etc/a", "1; rm -rf /"]],
        }
    },
    "a prior version of no conffile": {
        "madash-client-laptop": {
            "digest": "0" * 64,
            "version": "1",
            "epoch": 1,
            "conffiles": ["/etc/a"],
            "shipped_until": [["/etc/b", "1"]],
        }
    },
    "not an object": [],
}


@pytest.mark.parametrize("damage", BUILDS_DAMAGE, ids=str)
def test_a_damaged_builds_record_is_one_clear_error(site_dir: Path, madash: Madash, damage: str) -> None:
    (site_dir / "builds.json").write_text(json.dumps(BUILDS_DAMAGE[damage]))
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "client", "laptop"), 2, "builds.json is damaged")
    assert snapshot(site_dir) == before


def test_a_hostile_repository_state_is_rebuilt_and_never_used_as_a_path(site_dir: Path, madash: Madash) -> None:
    bake_host(site_dir, "laptop")
    assert madash("--site", site_dir, "repo").code == 0
    outside = site_dir.parent / "outside"
    outside.mkdir()
    (outside / "keep").write_text("must survive")
    state_path = site_dir / ".madash-repo-state.json"
    state = json.loads(state_path.read_text())
    state["suites"]["../../outside"] = dict(next(iter(state["suites"].values())))
    state_path.write_text(json.dumps(state))
    result = madash("--site", site_dir, "repo")
    assert result.code == 0, result.err
    assert "warning:" in result.err and ".madash-repo-state.json is damaged" in result.err
    assert (outside / "keep").read_text() == "must survive"
    assert (site_dir / "repo" / "dists" / "host-laptop" / "InRelease").exists()
    # Garbage is a warning too, and the next publish is whole again.
    state_path.write_text("{not json")
    result = madash("--site", site_dir, "repo")
    assert result.code == 0 and "damaged" in result.err
    assert json.loads(state_path.read_text())["version"] == 2
