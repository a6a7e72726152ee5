"""Worker processes forked from a command: what the fleet bake and a large publish share.

Forked, not spawned: a worker starts in microseconds with the parent's imports and, for
a publish, the unlocked signing key, which thus never crosses a pipe or a file.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """A worker whose parent is killed must not live on: it would write into a site that the
    next command then holds, and stay blocked on its task queue for good. Linux kills it
    with the parent (PR_SET_PDEATHSIG); a parent already gone is seen by getppid()."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _start(parent: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    die_with_parent(parent)
    initializer(*initargs)


def forked_pool(workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> ProcessPoolExecutor:
    """A pool of forked workers, each dying with this process; initargs are inherited, never pickled."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start,
        initargs=(os.getpid(), initializer, initargs),
    )
