"""Packaging of the madash toolkit, for pip and for stdeb (see stdeb.cfg).

The templates live at the top of the checkout (conf/, debian/, dashboards/) so that
they read as what they are. build_py copies them into the package as madash/data/,
which is where madash.resources looks first; a checkout falls back to the top level.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA_DIRS = ("conf", "debian", "dashboards")
# Once this tree is built as a Debian source package (stdeb), debian/ is also Debian's
# packaging directory: control, rules, changelog, source/ and debhelper's state. Only
# these subdirectories of it are madash's templates.
DEBIAN_TEMPLATE_DIRS = ("client", "common", "server", "snippets")


def _version() -> str:
    for line in (HERE / "madash" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split('"')[1]
    raise RuntimeError("madash/__init__.py has no __version__")


class BuildWithTemplates(build_py):
    """Copy the template trees into the built package, with plain modes."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "madash" / "data"
        if target.exists():
            shutil.rmtree(target)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in DATA_DIRS:
            source = HERE / name
            if name == "debian":
                for sub in DEBIAN_TEMPLATE_DIRS:
                    shutil.copytree(source / sub, target / name / sub, ignore=ignore)
            elif source.is_dir():
                shutil.copytree(source, target / name, ignore=ignore)


setup(
    name="madash",
    version=_version(),
    description="Bake Debian packages for a Grafana/InfluxDB/Telegraf site",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author="madash developers",
    author_email="madash@example.invalid",
    license="MIT",
    url="https://example.invalid/madash",
    python_requires=">=3.11",
    packages=find_packages(include=["madash", "madash.*"]),
    cmdclass={"build_py": BuildWithTemplates},
    install_requires=[
        # Lower bounds are Debian 12's versions, so that the toolkit's own .deb
        # can depend on Debian's packages.
        "jinja2>=3.1",
        "cryptography>=38",
        "python-debian>=0.1.49",
        "debian-inspector>=31",
        "tomlkit>=0.11",
        "rich>=13",
        # Generated compose and Grafana files are read back with it before they are packaged.
        "pyyaml>=6.0",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "mypy>=1.0",
            "ruff>=0.4",
            "setuptools>=66",
            "wheel",
            "types-setuptools",
            "jsonschema",
            "types-PyYAML",
            "hypothesis>=6",
            # The dashboards' typed code (scripts/dashboards/); its versions are EPOCH!GRAFANA_VERSION and a
            # plain install picks an old Grafana 10.1 build: the newest build for Grafana 11.6, its newest.
            "grafana-foundation-sdk==1769699379!11.6.0",
        ]
    },
    entry_points={"console_scripts": ["madash-build = madash.cli:main"]},
    classifiers=[
        "Environment :: Console",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Monitoring",
    ],
)
