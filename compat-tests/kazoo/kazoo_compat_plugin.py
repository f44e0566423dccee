"""pytest plugin loaded by compat-tests/kazoo/run (``-p kazoo_compat_plugin``).

- Records each test's exact pytest node id as a JUnit property, so compare.py does not have
  to guess it back from ``classname``: kazoo's gevent and eventlet suites subclass the
  threading ones from other modules, and the XML's ``file`` then names the defining module,
  not the one pytest collected the test from.
- Enforces the run's time budget: once the wall clock passes ``KAZOO_COMPAT_DEADLINE`` (Unix
  seconds), every test not yet started is skipped with BUDGET_REASON, so a slow or hanging
  server still ends in a complete JUnit file instead of a killed run.
"""

import os
import time

import pytest

BUDGET_REASON = "kazoo compat: suite time budget used up (KAZOO_SUITE_TIMEOUT)"


def _deadline():
    try:
        return float(os.environ.get("KAZOO_COMPAT_DEADLINE", ""))
    except ValueError:
        return None


def pytest_collection_modifyitems(items):
    for item in items:
        item.user_properties.append(("nodeid", item.nodeid))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    deadline = _deadline()
    if deadline is not None and time.time() > deadline:
        pytest.skip(BUDGET_REASON)
