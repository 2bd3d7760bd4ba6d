"""What a test needs from outside the checkout: the recorded provider traffic, a program.

Read the top of ``tests/conftest.py`` for how to use this. Outside CI a test whose need is
missing is left out with a notice naming what to install; under ``CI=true`` it fails instead,
so CI can never pass by not running it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
RECORDINGS_VARIABLE = "STEER_SYNC_RECORDINGS"


def in_ci() -> bool:
    """True when missing needs must fail rather than be left out (``CI=true``, as CI services set)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@functools.cache
def recordings_dir() -> Path:
    """The recordings folder: ``$STEER_SYNC_RECORDINGS``, else ``../shared/wire-fixtures``.

    Always a path, so module-level globs work (and find nothing) when it does not exist; tests
    that read it are marked ``conformance`` and left out, or failed under CI, when it is absent.
    """
    configured = os.environ.get(RECORDINGS_VARIABLE)
    if configured:
        return Path(configured).expanduser().resolve()
    return REPO.parent / "shared" / "wire-fixtures"


def recordings_notice() -> str:
    """What to do when the recordings folder is missing (one line, for the terminal summary)."""
    return (
        f"the recorded provider traffic was not found (looked in {recordings_dir()}); set "
        f"{RECORDINGS_VARIABLE}=/path/to/wire-fixtures (or put shared/ beside the checkout) to run them"
    )


def shared_dir() -> Path:
    """The ``shared/`` contracts folder beside the checkout (API.md, spec/)."""
    return REPO.parent / "shared"


def find_program(name: str) -> Optional[str]:
    """The program's path: on ``PATH``, or beside the running Python (a venv that is not on PATH)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def left_out(reason: str) -> NoReturn:
    """Skip the running test with ``reason`` outside CI; fail it under CI."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    # Reported at the test's own line, not this one (as a skip marker's reason would be).
    raise pytest.skip.Exception(reason, _use_item_location=True)


def need_program(name: str, install: str) -> str:
    """Return the path of program ``name``; skip (outside CI) or fail (CI) when it is missing.

    :param name: the executable, e.g. ``"redis-server"``.
    :param install: how to get it, e.g. ``"apt-get install redis-server"``.
    """
    found = find_program(name)
    if found is None:
        left_out(f"{name} not found; install it ({install}) to run this test")
    return found


def need_recordings() -> Path:
    """Return the recordings folder; skip (outside CI) or fail (CI) when it is missing."""
    if not recordings_dir().is_dir():
        left_out(recordings_notice())
    return recordings_dir()


def need_shared(name: str) -> Path:
    """Return ``shared/<name>`` beside the checkout; skip (outside CI) or fail (CI) when missing."""
    path = shared_dir() / name
    if not path.exists():
        left_out(f"{path} not found; put shared/ beside the checkout to run this test")
    return path
