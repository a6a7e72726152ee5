"""Maintainer-script snippets as typed data: the table, the files and the assembled dispatch on $1."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from madash.deb import maintscripts
from madash.deb.reader import read_deb
from madash.deb.snippet_table import CALLS, COMMANDS, ESSENTIAL, SNIPPETS, Arg, Script, Snippet
from madash.packages.client import client_spec, gather
from madash.packages.server import gather as server_gather
from madash.packages.server import server_spec
from madash.resources import data_root
from madash.site.config import load_site
from tests.conftest import NOW, bake_host

SNIPPET_DIR = data_root() / maintscripts.SNIPPET_DIR


def _code(text: str) -> str:
    """A snippet without its comment lines: what it runs."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_every_snippet_file_has_one_row_and_no_dispatch_of_its_own() -> None:
    files = sorted(p.name for p in SNIPPET_DIR.iterdir())
    rows = [s.file for s in SNIPPETS]
    assert sorted(rows) == files
    assert len(set(rows)) == len(rows)
    for name in files:
        text = (SNIPPET_DIR / name).read_text()
        assert not re.search(r"case\s+\"?\$\{?1", text), f"{name} dispatches on $1: put its cases in the table"
        assert "<<" not in text, name


def test_every_command_a_body_runs_is_declared() -> None:
    for snippet in SNIPPETS:
        code = _code((SNIPPET_DIR / snippet.file).read_text())
        used = {c for c in COMMANDS if re.search(rf"(^|[\s;|&(]){re.escape(c)}(\s|$)", code, re.MULTILINE)}
        assert used == set(snippet.commands) | set(snippet.optional), snippet.file


def _owner(command: str) -> str:
    """The package that ships COMMAND on this Debian 12 machine (usrmerge: dpkg may list /bin or /usr/bin)."""
    found = shutil.which(command, path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert found is not None, command
    for candidate in (found, found.removeprefix("/usr"), "/usr" + found):
        result = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0]
    raise AssertionError(f"no package ships {found}")


def test_the_command_table_and_the_essential_set_are_debian_12s() -> None:
    assert Path("/etc/debian_version").read_text().startswith("12.")
    for command, package in COMMANDS.items():
        assert _owner(command) == package, command
    for package in {*COMMANDS.values(), *ESSENTIAL}:
        query = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Essential}", package], capture_output=True, text=True, check=True
        )
        assert (query.stdout == "yes") == (package in ESSENTIAL), package


def test_the_table_refuses_what_dpkg_never_passes_and_unguarded_postrm_needs() -> None:
    with pytest.raises(ValueError, match="never passes"):
        Snippet("x", Script.PREINST, frozenset({Arg.CONFIGURE}))
    with pytest.raises(ValueError, match="never passes"):
        Snippet("x", Script.POSTINST, frozenset())
    with pytest.raises(ValueError, match="no package known"):
        Snippet("x", Script.POSTINST, frozenset({Arg.CONFIGURE}), ("curl",))
    # Policy 7.2: at purge time passwd may be gone; gpasswd there must sit behind a guard.
    with pytest.raises(ValueError, match="Essential"):
        Snippet("x", Script.POSTRM, frozenset({Arg.PURGE}), ("gpasswd",))
    Snippet("x", Script.POSTRM, frozenset({Arg.PURGE}), optional=("gpasswd",))


def test_depends_is_checked_against_what_the_scripts_run() -> None:
    context = {
        **{"package": "p", "user": "telegraf", "state_dir": "/var/lib/p", "state_prefix": "/var/lib/p-"},
        **{"legacy_state": "/var/lib/q", "groups": ["docker"], "keys": [], "service": "telegraf.service"},
    }
    assembled = maintscripts.assemble("p", ["tls-key", "groups", "telegraf-start"], context)
    assert assembled.depends == {"passwd", "telegraf"} and not assembled.pre_depends
    maintscripts.check_relations("p", assembled, {"Depends": "telegraf (>= 1.20), passwd"})
    with pytest.raises(ValueError, match="need passwd"):
        maintscripts.check_relations("p", assembled, {"Depends": "telegraf"})
    # An alternative does not guarantee either package.
    with pytest.raises(ValueError, match="need passwd"):
        maintscripts.check_relations("p", assembled, {"Depends": "telegraf, passwd | shadow"})


def test_a_concern_is_named_once_and_must_exist() -> None:
    with pytest.raises(ValueError, match="no snippets for nothing"):
        maintscripts.assemble("p", ["nothing"], {})
    with pytest.raises(ValueError, match="named twice"):
        maintscripts.assemble("p", ["state", "state"], {"state_dir": "/var/lib/p"})


def test_one_branch_per_list_of_snippets_in_dpkg_s_order() -> None:
    units = [{"name": "a.service", "on_upgrade": "try-restart"}]
    context = {"state_dir": "/var/lib/p", "units": units, "data_dir": "/var/lib/d", "unit_sums": "/s", "unit_dir": "/u"}
    postrm = maintscripts.assemble("p", ["state", "units", "data-dirs"], context).scripts["postrm"]
    dispatch = postrm[postrm.index('case "$1" in') :]
    # Teardown runs the concerns in reverse; within one concern, the table's order.
    assert (
        '    remove)\n        madash_units_reload "$@"\n        ;;\n'
        '    purge)\n        madash_data_dirs "$@"\n        madash_units "$@"\n        madash_units_reload "$@"\n'
        '        madash_state "$@"\n        ;;\n'
        "    upgrade|failed-upgrade|abort-install|abort-upgrade|disappear)\n        ;;\n"
    ) in dispatch
    # A body that renders to comments only (no directory to remove) is left out, function and call.
    postinst = maintscripts.assemble("p", ["obsolete-dirs", "state"], {"obsolete_dirs": [], "state_dir": "/s"}).scripts
    assert set(postinst) == {"postrm"}


@pytest.mark.parametrize("argument", ["", "reconfigure", "triggered", "configure "])
def test_an_argument_dpkg_never_passes_fails_with_debhelper_s_message(
    site_dir: Path, tmp_path: Path, argument: str
) -> None:
    """Every script's *) branch, run for real: the functions above it only define, so nothing else runs."""
    scripts = read_deb(bake_host(site_dir, "laptop", "docker").path).scripts
    for name, text in scripts.items():
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run(["sh", str(path), argument], capture_output=True, text=True, check=False)
        assert result.returncode == 1, (name, result.stderr)
        assert result.stderr == f"{name} called with unknown argument '{argument}'\n"
        assert result.stdout == ""


def test_every_script_lists_every_argument_dpkg_passes_it(site_dir: Path) -> None:
    site = load_site(site_dir)
    bake_host(site_dir, "laptop", "docker", "smart")
    client = client_spec(gather(load_site(site_dir), "laptop", NOW, apt=None))
    for spec in (client, server_spec(server_gather(site, NOW))):
        for name, text in spec.scripts.items():
            branches = re.findall(r"^    ([a-z|-]+)\)$", text, re.MULTILINE)
            listed = [arg for branch in branches for arg in branch.split("|")]
            assert sorted(listed) == sorted(CALLS[Script(name)]), (spec.name, name)
