"""Packaging of the madash toolkit, for pip and for stdeb (see stdeb.cfg).

The templates live at the top of the checkout (conf/, debian/, dashboards/) so that
they read as what they are. build_py copies them into the package as madash/data/,
which is where madash.resources looks first; a checkout falls back to the top level.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA_DIRS = ("conf", "debian", "dashboards")
# Once this tree is built as a Debian source package (stdeb), debian/ is also Debian's
# packaging directory: control, rules, changelog, source/ and debhelper's state. Only
# these subdirectories of it are madash's templates.
DEBIAN_TEMPLATE_DIRS = ("client", "common", "server", "snippets")
SUMMARY = "Debian packages for a Grafana, InfluxDB and Telegraf site"
# python3-madash's Description, for stdeb (which would cut the README at 20 lines, Markdown and all):
# plain text, at most 20 lines of at most 80 columns; two leading spaces keep a line as it is.
DEBIAN_DESCRIPTION = """\
madash keeps a small monitoring site in one directory (its settings, its
certificate authority and its secrets) and bakes Debian packages from it
with the madash-build command:
  - madash-server for the monitoring server: Grafana and InfluxDB under
    docker compose, and stunnel as the mutual-TLS door to InfluxDB;
  - one madash-client-HOST per monitored machine: Telegraf's configuration
    for the host's features, with the host's own certificate;
  - a signed apt repository that serves them to the site's machines.

A re-bake with nothing changed gives the same package, byte for byte;
every generated file is read back by its own parser before it is packaged.
"""
STDEB_COMMANDS = {"sdist_dsc", "bdist_deb", "debianize"}
# madash-build(1) and its bash completion, made from the argument parser at build time (argparse-manpage,
# shtab: build requirements in pyproject.toml and Build-Depends in stdeb.cfg), installed as data files.
GENERATED = "build/generated"
MAN_PAGE = f"{GENERATED}/madash-build.1"
COMPLETION = f"{GENERATED}/madash-build"
PARSER_MODULE = "madash.cli.parser"


def _generate() -> None:
    """Write the manual page and the completion script from this tree's parser."""
    (HERE / GENERATED).mkdir(parents=True, exist_ok=True)
    # This tree first; pip's build environment reaches its own packages through PYTHONPATH too.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    # The tools of this very interpreter (pip's build environment, or Debian's python3 under pybuild), not
    # whichever comes first on PATH: argparse-manpage's module is build_manpages up to 1.x, argparse_manpage after.
    manpage = (
        "try:\n    from argparse_manpage.cli import main\n"
        "except ImportError:\n    from build_manpages.cli import main\n"
        "main()"
    )
    subprocess.run(
        [sys.executable, "-c", manpage, "--module", PARSER_MODULE, "--function", "build_parser",
         "--project-name", "madash", "--author", "madash developers", "--url", "https://example.invalid/madash",
         "--output", str(HERE / MAN_PAGE)],
        env=env, check=True,
    )  # fmt: skip
    # argparse-manpage (Debian 12's 1.2.2 and PyPI's 4.x alike) writes the NAME line without the summary that
    # whatis and apropos read (lintian: bad-whatis-entry).
    page = (HERE / MAN_PAGE).read_text(encoding="utf-8")
    page = re.sub(r"^(\.SH NAME\n)(madash\\?-build)\n", rf"\1\2 \\- {SUMMARY}\n", page, count=1, flags=re.MULTILINE)
    (HERE / MAN_PAGE).write_text(page, encoding="utf-8")
    completion = subprocess.run(
        [sys.executable, "-m", "shtab", "--shell=bash", "--error-unimportable", f"{PARSER_MODULE}.build_parser"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    # Debian 12's shtab (1.5.5) keeps each argument's choices in a bash array and reads it back through
    # ${!name}, which gives the first element only: "madash-build <TAB>" offered init alone. name[@] gives them
    # all (and a plain string, as other versions write, as it is).
    broken = 'local current_action_choices_var="${current_action}_choices"'
    completion = completion.replace(broken, broken.removesuffix('"') + '[@]"')
    (HERE / COMPLETION).write_text(completion, encoding="utf-8")


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
        _generate()


setup(
    name="madash",
    version=_version(),
    description=SUMMARY,
    # The README for pip's metadata; the Debian description when stdeb writes debian/control.
    long_description=(
        DEBIAN_DESCRIPTION if STDEB_COMMANDS & set(sys.argv) else (HERE / "README.md").read_text(encoding="utf-8")
    ),
    long_description_content_type="text/plain" if STDEB_COMMANDS & set(sys.argv) else "text/markdown",
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
        # tomli's wheels are tomllib's parser compiled with mypyc: re-reading each client's Telegraf
        # configuration takes a third of the time (scripts/bench installs it; Debian's 2.0 is not compiled).
        "fast": ["tomli>=2.1"],
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
            # To build the wheel without build isolation in tests/test_toolkit_deb.py.
            "argparse-manpage",
            "shtab",
        ],
    },
    entry_points={"console_scripts": ["madash-build = madash.cli:main"]},
    data_files=[("share/man/man1", [MAN_PAGE]), ("share/bash-completion/completions", [COMPLETION])],
    classifiers=[
        "Environment :: Console",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Monitoring",
    ],
)
