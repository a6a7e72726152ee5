"""Where the templates and dashboards are, however madash was installed.

An installed toolkit (pip, or the .deb built with stdeb) carries them inside the
package as madash/data/ (setup.py copies them there at build time). A checkout
or an editable install has them at the top of the repository. Everything that
needs a template asks data_root(); nothing else guesses paths.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from madash.errors import MadashError

_PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIRS = ("conf", "debian", "dashboards")


@cache
def data_root() -> Path:
    for candidate in (_PACKAGE_DIR / "data", _PACKAGE_DIR.parent):
        if all((candidate / name).is_dir() for name in DATA_DIRS):
            return candidate
    raise MadashError(
        f"madash's templates are missing (looked in {_PACKAGE_DIR / 'data'} and {_PACKAGE_DIR.parent})",
        hint="reinstall madash",
    )
