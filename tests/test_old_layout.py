"""The frozen toolkit the migration tests bake with is the commit it says it is (tests/old_layout.py)."""

from __future__ import annotations

import gzip
import hashlib

from tests.old_layout import FROZEN, FROZEN_SHA256, archive_of_commit


def test_the_frozen_tree_is_the_conffile_layout_commit() -> None:
    tar = gzip.decompress(FROZEN.read_bytes())
    assert hashlib.sha256(tar).hexdigest() == FROZEN_SHA256
    # Where the history is there (not in a shallow clone), git itself says the same.
    from_git = archive_of_commit()
    if from_git is not None:
        assert from_git == tar
