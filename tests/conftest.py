"""Tests that need something from outside the checkout.

A bare clone must pass ``make test``; CI must run everything. So a test that needs the
recorded provider traffic (``../shared/wire-fixtures``, or ``$STEER_SYNC_RECORDINGS``) or an
outside program says so, and then:

- outside CI, when the need is missing, it is left out and the terminal summary says in one
  line how many tests did not run and what to install or set to run them;
- under ``CI=true`` it is never left out: a missing need fails the test.

How to say what a test needs (the helpers live in ``tests/_outside.py``):

- ``@pytest.mark.conformance`` (or ``pytestmark = pytest.mark.conformance`` for a module), or
  the ``recordings`` fixture (the recordings folder as a ``Path``): needs the recordings. For
  module-level parameter lists use ``from _outside import recordings_dir``: it returns the
  folder even when it does not exist, so globbing it at collection finds nothing instead of
  failing.
- ``@pytest.mark.requires("redis-server", install="apt-get install redis-server")``: needs a
  program on ``PATH`` (or beside the venv's Python). Several markers may be stacked.
- In a fixture (marks do not apply to fixtures) or a test body, like ``pytest.importorskip``:
  ``from _outside import need_program`` then ``path = need_program("gunicorn", install="pip
  install gunicorn")``; also ``need_recordings()`` and ``need_shared("API.md")``. These skip
  with a visible reason outside CI and fail under CI.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Dict, Generator, List, Tuple

import pytest
from _outside import find_program, in_ci, need_recordings, recordings_dir, recordings_notice

#: (kind of test, what is missing and how to get it) -> how many tests were left out for it.
_left_out: Counter[Tuple[str, str]] = Counter()
#: node id -> what it needs and is missing, for tests that must fail under CI=true.
_fail_in_ci: Dict[str, List[Tuple[str, str]]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: needs the recorded provider traffic (see tests/conftest.py)")
    config.addinivalue_line(
        "markers", "requires(program, install): needs an outside program on PATH (see tests/conftest.py)"
    )


def _needs_recordings(item: pytest.Item) -> bool:
    return item.get_closest_marker("conformance") is not None or "recordings" in getattr(item, "fixturenames", ())


def _missing(item: pytest.Item) -> List[Tuple[str, str]]:
    missing = []
    if _needs_recordings(item) and not recordings_dir().is_dir():
        missing.append(("conformance test", recordings_notice()))
    for marker in item.iter_markers("requires"):
        (program,) = marker.args
        if find_program(program) is None:
            install = marker.kwargs.get("install", f"install {program}")
            missing.append(("test", f"{program} was not found; install it ({install}) to run them"))
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    kept, deselected = [], []
    for item in items:
        missing = _missing(item)
        if missing and in_ci():
            _fail_in_ci[item.nodeid] = missing
        if missing and not in_ci():
            deselected.append(item)
            _left_out.update(missing)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid in _fail_in_ci:
        reasons = "; ".join(notice for _, notice in _fail_in_ci[item.nodeid])
        pytest.fail(f"CI=true and {reasons}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # CI must run these: a skip for any reason (an empty parameter list from a recordings
    # folder with nothing in it, a pytest.skip in a fixture) is a failure there.
    outside = _needs_recordings(item) or item.get_closest_marker("requires") is not None
    if report.skipped and outside and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true: this test needs something from outside the checkout and must run, but it was skipped: {reason}"
        )
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for (kind, notice), count in sorted(_left_out.items()):
        plural = "s" if count != 1 else ""
        terminalreporter.write_line(f"{count} {kind}{plural} did not run: {notice}", yellow=True, bold=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Selecting only tests whose needs are missing is not an error: the notice says what to do.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _left_out and not in_ci():
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(scope="session")
def recordings() -> Path:
    """The recorded provider traffic folder (``$STEER_SYNC_RECORDINGS`` or ``../shared/wire-fixtures``)."""
    return need_recordings()
