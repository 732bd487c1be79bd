"""undrift's pytest plugin (the `pytest11` entry point): the `--undrift-db` option and the `undrift_store` fixture.

pytest loads it in every project of an environment where undrift is installed, so it imports nothing of undrift's
at start-up: the store, SQLAlchemy and torch load only when a test uses the fixture or an assertion.
"""

from __future__ import annotations

import sys

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("undrift")
    group.addoption("--undrift-db", dest="undrift_db", default=None, metavar="URL",
                    help="the undrift store that undrift.testing's assertions read (default: $UNDRIFT_DB, else "
                         "./undrift.db)")
    parser.addini("undrift_db", "the undrift store that undrift.testing's assertions read (--undrift-db wins)")


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption("undrift_db") or config.getini("undrift_db")
    if url:
        import undrift.testing

        undrift.testing.DEFAULT_DB = url


def pytest_unconfigure(config: pytest.Config) -> None:
    testing = sys.modules.get("undrift.testing")  # loaded only if configured or used
    if testing is not None:
        testing.DEFAULT_DB = None


@pytest.fixture
def undrift_store(tmp_path):
    """A new, empty undrift store in the test's temporary folder (never $UNDRIFT_DB nor --undrift-db), for tests
    that make their own runs; pass it as `db=` to undrift's functions and the assertions."""
    from undrift.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'undrift.db'}")
    yield store
    store.close()
