"""The code's shape as tests: imports point down the pipeline, modules stay small, features live in one table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from madash.site import features

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "madash"

# The pipeline, bottom first. A module may import from its own layer and the layers below only.
LAYERS: list[tuple[str, ...]] = [
    (
        "madash",
        "madash.errors",
        "madash.modes",
        "madash.times",
        "madash.compress",
        "madash.run",
        "madash.resources",
        "madash.fsutil",
        "madash.workers",
        "madash.formats",
        "madash.render",
    ),
    ("madash.site",),
    ("madash.pki",),
    ("madash.deb",),
    ("madash.packages",),
    ("madash.apt",),
    ("madash.bootstrap", "madash.status", "madash.check", "madash.progress", "madash.cli"),
]
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best = -1
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix != "madash":
                best = number
    if best < 0 and (module == "madash" or module.count(".") == 1):
        return 0 if module in LAYERS[0] else -1
    return best


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("madash"):
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("madash")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_pipeline(path: Path) -> None:
    module = _module_name(path)
    own = _layer(module)
    assert own >= 0, f"{module} is in no layer of LAYERS"
    for imported in _imports(path):
        target = _layer(imported)
        if target < 0:  # "from madash.packages import client" names a module: judged by its package
            target = _layer(imported.rsplit(".", 1)[0])
        assert target <= own, f"{module} (layer {own}) imports {imported} (layer {target})"
        if module.startswith("madash.packages") or module.startswith("madash.deb"):
            assert not imported.startswith("madash.apt"), f"{module} builds packages and must not import {imported}"


def test_the_layer_check_catches_a_back_edge(tmp_path: Path) -> None:
    # The rule above, shown failing on purpose: a package-building module that imports signing.
    bad = tmp_path / "bad.py"
    bad.write_text("from madash.apt import signing\n")
    assert _layer("madash.packages.client") < _layer(_imports(bad)[0])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by responsibility"


def test_readme_feature_table_is_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert features.readme_table() in readme, "regenerate the README's feature table from madash.site.features"


def test_every_feature_that_collects_has_its_template() -> None:
    for spec in features.FEATURES.values():
        if spec.template is not None:
            assert (ROOT / "conf" / "telegraf" / "inputs" / f"{spec.template}.conf.j2").is_file(), spec.feature
    templates = {p.name.removesuffix(".conf.j2") for p in (ROOT / "conf" / "telegraf" / "inputs").glob("*.conf.j2")}
    assert templates - {"base"} == {s.template for s in features.FEATURES.values() if s.template}
