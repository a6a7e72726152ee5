"""madash-build's command line: the contract users and scripts rely on."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from madash import __version__
from madash.cli.parser import EXAMPLES, build_parser
from madash.pki import store as certstore
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, run_cli, run_cli_read_only, set_repo, snapshot

Madash = Callable[..., Result]


def test_version_and_help_of_every_command() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"madash-build {__version__}"
    for command in ([], ["init"], ["revoke"], ["renew"], ["list"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: madash-build" in result.stdout


def test_init_then_list(tmp_path: Path, madash: Madash) -> None:
    site = tmp_path / "site"
    result = madash("--site", site, "init", "--server", "127.0.0.1,mon.example.org", "--server", "::1", "--name", "lab")
    assert result.code == 0, result.err
    assert "created site 'lab'" in result.out
    assert load_site(site).config.server.addresses == ("127.0.0.1", "mon.example.org", "::1")
    for name, mode in [
        ("pki/ca.key", 0o600),
        ("pki/server.key", 0o600),
        ("secrets.toml", 0o600),
        ("pki/ca.crt", 0o644),
    ]:
        assert (site / name).stat().st_mode & 0o777 == mode, name
    listing = madash("--site", site, "list")
    assert listing.code == 0 and listing.err == ""
    assert listing.out.splitlines()[0] == "site: lab"
    assert listing.out.splitlines()[1].startswith("CA SHA-256 fingerprint: ")
    assert [line.split()[0] for line in listing.out.splitlines()[3:]] == ["ca", "server", "crl"]


def test_site_defaults_to_environment_then_cwd(tmp_path: Path, madash: Madash, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert madash("init", "--server", "127.0.0.1").code == 0
    assert (tmp_path / "madash.toml").exists()
    other = tmp_path / "other"
    monkeypatch.setenv("MADASH_SITE", str(other))
    assert madash("init", "--server", "127.0.0.2").code == 0
    assert load_site(other).config.site.name == "127.0.0.2"


def test_list_shows_host_states_and_never_a_secret(site_dir: Path, madash: Madash) -> None:
    site = load_site(site_dir)
    for host in ("alpha", "beta", "gamma"):
        certstore.issue_host(site, host, lambda: None, NOW)
    assert madash("--site", site_dir, "revoke", "beta").code == 0
    listing = madash("--site", site_dir, "list", "--json")
    assert listing.code == 0, listing.err
    report = json.loads(listing.out)
    assert {h["name"]: h["status"] for h in report["hosts"]} == {"alpha": "valid", "beta": "revoked", "gamma": "valid"}
    assert report["crl"]["revoked"] == 1 and report["crl"]["status"] == "valid"
    text = madash("--site", site_dir, "list").out
    secrets = (site_dir / "secrets.toml").read_text()
    for line in secrets.splitlines():
        if "=" in line:
            assert line.split('"')[1] not in text + listing.out
    for key in [site_dir / "pki" / "ca.key", site_dir / "pki" / "clients" / "alpha.key"]:
        body = "".join(key.read_text().splitlines()[1:-1])
        assert body[:40] not in text + listing.out


def test_list_warns_of_expiring_certificates(tmp_path: Path, madash: Madash) -> None:
    site_dir = tmp_path / "site"
    assert madash("--site", site_dir, "init", "--server", "127.0.0.1").code == 0
    config = site_dir / "madash.toml"
    config.write_text(
        config.read_text().replace("client_days = 825", "client_days = 10").replace("crl_days = 180", "crl_days = 20")
    )
    certstore.issue_host(load_site(site_dir), "shortlived", lambda: None, NOW)
    listing = madash("--site", site_dir, "list")
    assert "shortlived" in listing.out and "expiring" in listing.out
    assert "warning: host shortlived's certificate is expiring: run 'madash-build renew shortlived'" in listing.err
    assert "warning: the CRL is expiring" in listing.err


def test_renew_takes_a_host_or_server(site_dir: Path, madash: Madash) -> None:
    certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    assert madash("--site", site_dir, "renew", "laptop").code == 0
    assert madash("--site", site_dir, "renew", "--server").code == 0
    assert_one_line_error(madash("--site", site_dir, "renew"), 2, "either a HOST or --server")
    assert_one_line_error(madash("--site", site_dir, "renew", "laptop", "--server"), 2)


def test_force_moves_the_old_site_aside(site_dir: Path, madash: Madash) -> None:
    old_ca = (site_dir / "pki" / "ca.crt").read_bytes()
    result = madash("--site", site_dir, "init", "--server", "10.0.0.1", "--force")
    assert result.code == 0, result.err
    assert (site_dir / "pki" / "ca.crt").read_bytes() != old_ca
    backups = list(site_dir.glob("replaced-*"))
    assert len(backups) == 1 and (backups[0] / "pki" / "ca.crt").read_bytes() == old_ca
    assert (backups[0] / "madash.toml").exists() and (backups[0] / "secrets.toml").exists()


def test_ca_passphrase_from_environment(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {"MADASH_CA_PASSPHRASE": "open sesame"}
    assert run_cli("--site", site, "init", "--server", "127.0.0.1", env=env).returncode == 0
    certstore.issue_host(load_site(site), "laptop", lambda: b"open sesame", NOW)
    assert run_cli("--site", site, "revoke", "laptop", env=env).returncode == 0
    before = snapshot(site)
    wrong = run_cli("--site", site, "renew", "laptop", env={"MADASH_CA_PASSPHRASE": "wrong"})
    assert wrong.returncode == 1 and wrong.stderr.startswith("madash-build: error: wrong passphrase for pki/ca.key")
    missing = run_cli("--site", site, "renew", "laptop")  # no terminal, no variable
    assert missing.returncode == 1 and "MADASH_CA_PASSPHRASE" in missing.stderr
    assert snapshot(site) == before


# --- bad input: one line, non-zero exit, nothing written or changed -------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--server", "999.1.1.1"], "invalid server address '999.1.1.1'"),
        (["--server", "a b"], "invalid server address 'a b'"),
        (["--server", ""], "empty server address"),
        (["--server", "127.0.0.1", "--name", "../x"], "invalid site name"),
        ([], "the following arguments are required: --server"),
    ],
)
def test_init_bad_input_writes_nothing(tmp_path: Path, madash: Madash, args: list[str], needle: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    result = madash("--site", site, "init", *args)
    assert_one_line_error(result, 2, needle)
    assert list(site.iterdir()) in ([], [site / ".madash.lock"])


def test_init_over_existing_site_changes_nothing(site_dir: Path, madash: Madash) -> None:
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "init", "--server", "127.0.0.1"), 2, "already exists", "--force")
    assert snapshot(site_dir) == before


@pytest.mark.parametrize("host", ["a_b", "../x", "", "x" * 64, "-lead"])
@pytest.mark.parametrize("command", ["revoke", "renew"])
def test_bad_host_names(site_dir: Path, madash: Madash, host: str, command: str) -> None:
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, command, "--", host), 2, "invalid host name")
    assert snapshot(site_dir) == before


@pytest.mark.parametrize("command", ["revoke", "renew"])
def test_unknown_host(site_dir: Path, madash: Madash, command: str) -> None:
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, command, "nosuchhost"), 2, "unknown host 'nosuchhost'")
    assert snapshot(site_dir) == before


def test_revoking_twice(site_dir: Path, madash: Madash) -> None:
    certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    assert madash("--site", site_dir, "revoke", "laptop").code == 0
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "revoke", "laptop"), 2, "already revoked", "renew laptop")
    assert snapshot(site_dir) == before


@pytest.mark.parametrize("name", ["ca.key", "ca.crt"])
def test_truncated_ca_file(site_dir: Path, madash: Madash, name: str) -> None:
    certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    path = site_dir / "pki" / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "revoke", "laptop"), 1, f"pki/{name}", "truncated or damaged")
    assert snapshot(site_dir) == before


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t + "\n[server\n", "line"),
        (lambda t: t.replace("door_port", "door_prot"), "server.door_prot: unknown key (did you mean 'door_port'?)"),
    ],
)
def test_broken_madash_toml(site_dir: Path, madash: Madash, edit: Callable[[str], str], needle: str) -> None:
    config = site_dir / "madash.toml"
    config.write_text(edit(config.read_text()))
    before = snapshot(site_dir)
    for command in (["list"], ["renew", "--server"]):
        assert_one_line_error(madash("--site", site_dir, *command), 2, "madash.toml", needle)
    assert snapshot(site_dir) == before


def test_no_site_here(tmp_path: Path, madash: Madash) -> None:
    assert_one_line_error(madash("--site", tmp_path, "list"), 2, "no site at", "madash-build init")


def test_unknown_command_and_option(madash: Madash) -> None:
    assert_one_line_error(madash("frobnicate"), 2, "invalid choice")
    assert_one_line_error(madash("list", "--jsn"), 2, "unrecognized arguments")


def test_debug_shows_a_traceback(tmp_path: Path) -> None:
    result = run_cli("--debug", "--site", tmp_path, "list")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_debug_is_accepted_after_the_command_and_logs_each_tool_command(site_dir: Path) -> None:
    # The one program madash still runs: gpg, to move a key older madash made out of gpg's home.
    from tests.test_openpgp import legacy_home

    legacy_home(site_dir, "")
    set_repo(site_dir, serve=False)  # else `client` would move the key already, for the server's repository URL
    assert run_cli("--site", site_dir, "client", "laptop").returncode == 0
    result = run_cli("--site", site_dir, "repo", "--debug")
    assert result.returncode == 0, result.stderr
    ran = [line for line in result.stderr.splitlines() if line.startswith("madash-build: debug: ran ")]
    assert any("gpg --batch" in line and "--export-secret-keys" in line and " s)" in line for line in ran), ran
    assert "Traceback" not in result.stderr


def test_a_failing_tool_shows_its_command_and_stderr(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from madash.errors import ToolError
    from madash.run import run

    with pytest.raises(ToolError) as info:
        run(["sh", "-c", "echo oops >&2; exit 3"])
    assert info.value.command[1:] == ("-c", "echo oops >&2; exit 3") and "oops" in info.value.message
    assert info.value.shell_command().endswith("sh -c 'echo oops >&2; exit 3'")


def test_children_get_an_allow_listed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from madash.run import run

    monkeypatch.setenv("MADASH_CA_PASSPHRASE", "not for children")
    monkeypatch.setenv("MADASH_REPO_PASSPHRASE", "nor this")
    env = run(["env"]).stdout.decode()
    assert "MADASH_" not in env and "LC_ALL=C.UTF-8" in env and "PATH=" in env


def test_read_only_site_directory(site_dir: Path) -> None:
    certstore.issue_host(load_site(site_dir), "laptop", lambda: None, NOW)
    before = snapshot(site_dir)
    for command in (["revoke", "laptop"], ["renew", "--server"], ["init", "--server", "127.0.0.1", "--force"]):
        result = run_cli_read_only(site_dir, "--site", site_dir, *command)
        assert result.returncode == 1, result
        assert result.stderr.startswith("madash-build: error: cannot write"), result.stderr
        assert "Read-only file system" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 2  # the error and its hint
    readonly_list = run_cli_read_only(site_dir, "--site", site_dir, "list")
    assert readonly_list.returncode == 0, readonly_list.stderr
    assert snapshot(site_dir) == before


def test_init_with_an_ipv6_server_and_no_name(tmp_path: Path, madash: Madash) -> None:
    result = madash("--site", tmp_path / "s", "init", "--server", "::1")
    assert result.code == 0, result.err
    assert load_site(tmp_path / "s").config.site.name == "madash site"
    assert load_site(tmp_path / "s").config.server.addresses == ("::1",)


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_every_help_ends_with_examples_that_parse(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert result.stdout.rstrip().endswith(EXAMPLES[command][-1])
    for example in EXAMPLES[command]:
        # Each example as the shell would split it, up to a comment or a second command.
        words = shlex.split(example.split("#")[0].split("&&")[0])
        while "=" in words[0]:  # an environment assignment before the command
            words.pop(0)
        assert words[0] == "madash-build"
        args = build_parser().parse_args(words[1:])
        assert args.command == command


def test_every_command_has_examples() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == set(EXAMPLES)
