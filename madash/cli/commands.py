"""One function per command: parse nothing, print results, return an exit code.

Each command imports what it needs when it runs: cryptography, jinja2, rich and
python-debian together take a third of a second to import, more than a repo
publish with nothing to do needs in all.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
import os
import shutil
import sys
from typing import TYPE_CHECKING

from madash.cli.output import one_line, print_table, shown
from madash.errors import UsageError
from madash.site.config import load_site
from madash.site.values import TAG_KEY_RULE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from madash.packages.aptsource import AptIdentity
    from madash.site.config import Site
    from madash.site.destination import Destination
    from madash.status import SiteStatus

PROG = "madash-build"
PASSPHRASE_VARIABLE = "MADASH_CA_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def passphrase_source() -> bytes | None:
    """The CA key's passphrase: from the environment, else asked on a terminal."""
    value = os.environ.get(PASSPHRASE_VARIABLE)
    if value:
        return value.encode()
    if sys.stdin.isatty():
        return getpass.getpass("Passphrase of the site CA key: ").encode()
    return None


def _new_passphrase(asked: bool) -> bytes | None:
    value = os.environ.get(PASSPHRASE_VARIABLE)
    if value:
        return value.encode()
    if not asked:
        return None
    if not sys.stdin.isatty():
        raise UsageError(
            "--ca-passphrase needs a terminal to ask on", hint=f"or set {PASSPHRASE_VARIABLE} in the environment"
        )
    first = getpass.getpass("New passphrase for the site CA key: ")
    if not first:
        raise UsageError("the passphrase is empty")
    if getpass.getpass("Repeat it: ") != first:
        raise UsageError("the passphrases differ")
    return first.encode()


def cmd_init(args: argparse.Namespace) -> int:
    from madash.bootstrap import init_site

    addresses = [part for value in args.server for part in value.split(",")] if args.server else []
    site, backup = init_site(
        args.site,
        addresses,
        args.name,
        force=args.force,
        maintainer=args.maintainer,
        ca_passphrase=_new_passphrase(args.ca_passphrase),
        now=now(),
    )
    print(f"created site {site.config.site.name!r} in {site.paths.root}")
    print(f"  server certificate for: {', '.join(site.config.server.addresses)}")
    if backup is not None:
        print(f"  the replaced site files were moved to {backup}")
    print(f"next: '{PROG} client HOST --feature ...' for each machine, '{PROG} server' for the server")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from madash.pki import store as certstore

    site = load_site(args.site)
    entry = certstore.revoke_host(site, args.host, passphrase_source, now())
    print(f"revoked {args.host}'s certificate (serial {entry.serial:x}); the CRL is rewritten")
    print(f"next: bake and install the server package so that stunnel refuses {args.host}")
    return 0


def cmd_renew(args: argparse.Namespace) -> int:
    from madash.pki import store as certstore

    site = load_site(args.site)
    if args.server == (args.host is not None):
        raise UsageError("renew takes either a HOST or --server", hint=f"see '{PROG} renew --help'")
    if args.server:
        entry = certstore.renew_server(site, passphrase_source, now())
        print(f"new server certificate (serial {entry.serial:x}, until {entry.not_after:%Y-%m-%d})")
        print("the old one is revoked and the CRL rewritten")
        print("next: bake and install the server package")
    else:
        entry = certstore.renew_host(site, args.host, passphrase_source, now())
        print(f"new certificate for {args.host} (serial {entry.serial:x}, until {entry.not_after:%Y-%m-%d})")
        print("the old one is revoked and the CRL rewritten")
        print(f"next: bake and install {args.host}'s client package, and the server package for the new CRL")
    return 0


def _tags(values: list[str] | None) -> dict[str, str] | None:
    if values is None:
        return None
    tags: dict[str, str] = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep:
            raise UsageError(f"invalid --tag {value!r}", hint=f"use --tag KEY=VALUE, KEY being {TAG_KEY_RULE}")
        if key in tags:
            raise UsageError(f"--tag {key!r} is given twice")
        tags[key] = tag_value
    # The grammar of keys and values is the model's (site.values.check_tags): the edited madash.toml is
    # parsed again before it is written, so a tag from here meets exactly the rules of one from the file.
    return tags


def cmd_client(args: argparse.Namespace) -> int:
    from madash.packages import fleet

    site = load_site(args.site)
    if args.all == (args.host is not None):
        raise UsageError("client takes either a HOST or --all", hint=f"see '{PROG} client --help'")
    features: list[str] | None = [] if args.no_features else args.feature
    if args.all:
        if features is not None or args.interval or args.tag:
            raise UsageError("--all re-bakes hosts as madash.toml describes them; it takes no host options")
        return _bake_fleet(site, args.jobs)
    tags = _tags(args.tag)
    with _new_key_undone_on_failure(site):
        result = fleet.bake_host(
            site,
            args.host,
            features=features,
            interval=args.interval,
            tags=tags,
            passphrase=passphrase_source,
            now=now(),
            apt=_apt_identity(site),
        )
    state = "new version" if result.changed else "unchanged"
    print(f"{result.package} {result.version} ({state}): {shown(result.path)}")
    return 0


@contextlib.contextmanager
def _new_key_undone_on_failure(site: Site) -> Iterator[None]:
    """The site lock across the repository identity and the bake: the identity makes the signing key on the
    first bake of a site with a repository (repo.serve, the default), and a bake that fails changes nothing."""
    from madash.fsutil import site_lock

    home = site.paths.repo_key
    with site_lock(site.paths.root):
        made = not home.exists()
        try:
            yield
        except BaseException:
            if made and home.exists():
                shutil.rmtree(home)
            raise


def _apt_identity(site: Site) -> AptIdentity | None:
    """The repository identity client packages carry, made once, before any host is baked."""
    from madash.apt.identity import identity

    return identity(site)


def _bake_fleet(site: Site, jobs: int | None) -> int:
    from madash import progress
    from madash.packages import fleet

    hosts = sorted(site.config.hosts)
    if not hosts:
        raise UsageError("madash.toml has no hosts yet", hint=f"add one with '{PROG} client HOST --feature ...'")
    with progress.Reporter(len(hosts), "baking", interactive=sys.stdout.isatty()) as reporter:
        items = fleet.bake_all(
            site, passphrase=passphrase_source, now=now(), jobs=jobs, apt=_apt_identity(site), report=reporter.advance
        )
    rows = [("HOST", "VERSION", "STATE", "FILE")]
    for item in items:
        if item.result is None:
            rows.append((item.host, "-", "failed", item.error or ""))
        else:
            state = "changed" if item.result.changed else "unchanged"
            rows.append((item.host, item.result.version, state, shown(item.result.path)))
    print_table(rows)
    failed = [item for item in items if item.result is None]
    changed = sum(1 for item in items if item.result is not None and item.result.changed)
    print(
        f"{len(items)} hosts: {changed} changed, {len(items) - changed - len(failed)} unchanged, {len(failed)} failed"
    )
    for item in failed:
        print(f"{PROG}: error: {item.host}: {one_line(item.error or '')}", file=sys.stderr)
    return 1 if failed else 0


def cmd_server(args: argparse.Namespace) -> int:
    from madash.packages import server

    site = load_site(args.site)
    result, warnings = server.bake_server(site, now(), passphrase_source if args.refresh_crl else None)
    if args.refresh_crl:
        print("the CRL is rewritten with a fresh next-update date")
    for warning in warnings:
        print(f"{PROG}: warning: {one_line(warning)}", file=sys.stderr)
    state = "new version" if result.changed else "unchanged"
    print(f"{result.package} {result.version} ({state}): {shown(result.path)}")
    return 0


def cmd_repo(args: argparse.Namespace) -> int:
    from madash.apt import publish as repo
    from madash.site.destination import check_destination

    site = load_site(args.site)
    # Checked before anything is published: a bad DEST changes nothing.
    destination = None if args.push is None else check_destination(args.push, site.paths.repo)
    result = repo.publish(site, now())
    for suite, packages in result.suites.items():
        print(f"{suite}: {', '.join(packages)}")
    for path in result.removed:
        print(f"removed from the pool: {path}")
    if result.changed:
        print(f"published in {shown(site.paths.repo)}; hosts use {shown(site.paths.repo / 'sources')}/HOST.sources")
    else:
        print(f"{shown(site.paths.repo)} is up to date: nothing changed")
    if destination is not None:
        _push(site, destination)
    return 0


def _push(site: Site, destination: Destination) -> None:
    from madash.apt import push

    pushed = push.push(site, destination, lambda line: print(f"{PROG}: push: {line}", file=sys.stderr))
    switched = len(pushed.switched)
    # A fleet's worth of names is no summary: name the suites only when they are few.
    names = f" ({', '.join(pushed.switched)})" if 0 < switched <= 5 else ""
    print(
        f"pushed to {destination.target}: {pushed.copied} files copied, {switched} suite"
        f"{'' if switched == 1 else 's'} switched{names}, {pushed.removed} old files removed"
    )


def cmd_list(args: argparse.Namespace) -> int:
    from madash import status

    site = load_site(args.site)
    report = status.site_status(site, now())
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_status(report)
    for warning in report.warnings:
        print(f"{PROG}: warning: {one_line(warning)}", file=sys.stderr)
    return 0


def cmd_add_package(args: argparse.Namespace) -> int:
    from madash.packages.extra import add_package

    added = add_package(load_site(args.site), args.file)
    print(f"{added.package} {added.version}: {shown(added.path)}")
    if added.listed:
        print(f"madash.toml: [repo] extra_packages now names {added.package}")
    print("next: madash-build repo, which publishes it in the shared suite")
    return 0


def cmd_grafana_cert(args: argparse.Namespace) -> int:
    from madash.pki import supplied

    site = load_site(args.site)
    if args.remove:
        if args.cert or args.key:
            raise UsageError("--remove takes no CERT or KEY", hint=f"see '{PROG} grafana-cert --help'")
        removed = supplied.remove(site)
        print("removed pki/grafana.pem" if removed else "the site has no certificate of its own for Grafana")
    else:
        if args.cert is None or args.key is None:
            raise UsageError("grafana-cert takes CERT and KEY, or --remove", hint=f"see '{PROG} grafana-cert --help'")
        pair = supplied.import_pair(site, args.cert, args.key, now())
        # The names come from the admin's file: a control character in one must not reach the terminal.
        print(
            one_line(
                f"pki/grafana.pem: {pair.subject}, from {pair.issuer}, for {', '.join(pair.names)}, "
                f"until {pair.not_after:%Y-%m-%d}"
            )
        )
        for warning in pair.warnings:
            print(f"{PROG}: warning: {one_line(warning)}", file=sys.stderr)
    print(f"next: {PROG} server, then install the new madash-server")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from madash import check

    findings = check.check(load_site(args.site), now())
    if args.json:
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    elif not findings:
        print("nothing needs doing")
    for finding in findings if not args.json else ():
        print(f"{one_line(finding.subject)}: {one_line(finding.message)}\n    fix: {one_line(finding.fix)}")
    return 1 if findings else 0


def _print_status(report: SiteStatus) -> None:
    rows: list[tuple[str, ...]] = [("WHAT", "NAME", "SERIAL", "NOT AFTER", "STATUS")]
    rows.append(("ca", report.ca.name, report.ca.serial or "-", report.ca.not_after or "-", report.ca.status))
    rows.append(
        (
            "server",
            report.server.name,
            report.server.serial or "-",
            report.server.not_after or "-",
            report.server.status,
        )
    )
    rows.append(("crl", "crl.pem", f"{report.crl.revoked} revoked", report.crl.next_update or "-", report.crl.status))
    for host in report.hosts:
        rows.append(("host", host.name, host.serial or "-", host.not_after or "-", host.status))
    print(f"site: {report.site}")
    print(f"CA SHA-256 fingerprint: {report.ca_sha256}")
    print_table(rows)
