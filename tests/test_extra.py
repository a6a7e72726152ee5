"""`madash-build add-package`: a telegraf .deb into the site once, checked as hostile input, published in shared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from madash.apt import publish as repo
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, snapshot
from tests.standin import build_standin_telegraf, build_tree

Madash = Callable[..., Result]


def fake_deb(tmp_path: Path, package: str, *, arch: str = "all", version: str = "1.0-1",
             files: tuple[str, ...] = ()) -> Path:  # fmt: skip
    tree = tmp_path / f"tree-{package}-{arch}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: x <x@example.org>\n"
        "Description: a test package\n"
    )
    for name in files:
        (tree / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tree / name.lstrip("/")).write_text("x\n")
    deb = tmp_path / f"{package}_{arch}.deb"
    build_tree(tree, deb)
    return deb


def test_telegraf_goes_into_dist_and_the_shared_suite(site_dir: Path, tmp_path: Path, madash: Madash) -> None:
    config_before = (site_dir / "madash.toml").read_text()
    deb = build_standin_telegraf(tmp_path)
    result = madash("--site", site_dir, "add-package", deb)
    assert result.code == 0, result.err
    [copied] = (site_dir / "dist").glob("telegraf_*.deb")
    assert copied.read_bytes() == deb.read_bytes() and copied.stat().st_mode & 0o777 == 0o600
    config = (site_dir / "madash.toml").read_text()
    assert 'extra_packages = ["telegraf"]' in config
    # Only that line changed: the admin's comments and layout are kept.
    assert config.replace('extra_packages = ["telegraf"]', "extra_packages = []") == config_before
    assert load_site(site_dir).config.repo.extra_packages == ("telegraf",)
    # Again: the same file, nothing more to list.
    again = madash("--site", site_dir, "add-package", deb)
    assert again.code == 0 and "extra_packages now names" not in again.out
    published = repo.publish(load_site(site_dir), NOW)
    assert any(p.startswith("telegraf ") for p in published.suites["shared"])


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda tmp: tmp / "missing.deb", "cannot read"),
        (lambda tmp: tmp, "not a regular file"),
        (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hello\n"))[0], "not a Debian package"),
        (lambda tmp: (tmp / "cut.deb", (tmp / "cut.deb").write_bytes(b"!<arch>\ndebian-binary   0 "))[0], "damaged"),
        (lambda tmp: fake_deb(tmp, "madash-server"), "one of madash's own packages"),
        (lambda tmp: fake_deb(tmp, "madash-client-laptop"), "one of madash's own packages"),
        (lambda tmp: fake_deb(tmp, "telegraf", arch="s390x"), "which the repository does not publish"),
        (lambda tmp: fake_deb(tmp, "telegraf", arch="amd64"), "lacks /usr/bin/telegraf, telegraf.service"),
        (lambda tmp: fake_deb(tmp, "telegraf", files=("/usr/bin/telegraf",)), "lacks telegraf.service"),
    ],
    ids=["missing", "directory", "text", "truncated", "server", "client", "arch", "empty-telegraf", "no-unit"],
)
def test_bad_packages_are_refused_and_the_site_is_unchanged(
    site_dir: Path, tmp_path: Path, madash: Madash, make: Callable[[Path], Path], needle: str
) -> None:
    path = make(tmp_path)
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "add-package", path), 2, needle)
    assert snapshot(site_dir) == before


def test_a_symlink_is_not_followed(site_dir: Path, tmp_path: Path, madash: Madash) -> None:
    link = tmp_path / "link.deb"
    link.symlink_to(build_standin_telegraf(tmp_path))
    assert_one_line_error(madash("--site", site_dir, "add-package", link), 2, "cannot read")


def test_another_package_for_the_shared_suite(site_dir: Path, tmp_path: Path, madash: Madash) -> None:
    assert madash("--site", site_dir, "add-package", fake_deb(tmp_path, "site-tools", arch="arm64")).code == 0
    assert (site_dir / "dist" / "site-tools_1.0-1_arm64.deb").exists()
    assert load_site(site_dir).config.repo.extra_packages == ("site-tools",)
