"""Fixtures: the platform (the real binary on a fresh database) and a way
to run ``async def`` tests without a plugin (each on its own event loop)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import sse_platform_client
from harness import Platform, TestDb, cleanup_dir

logging.getLogger("sse_platform_client").setLevel(logging.INFO)

#: Every test's own time limit: a hung test fails instead of hanging CI.
TEST_TIMEOUT = 90.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> Optional[bool]:
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    async def run() -> None:
        try:
            await asyncio.wait_for(func(**kwargs), TEST_TIMEOUT)
        finally:
            await sse_platform_client.close_socket_instance()

    asyncio.run(run())
    return True


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sse-py-"))
    yield path
    cleanup_dir(path)


@pytest.fixture(scope="session")
def db() -> Iterator[TestDb]:
    """One fresh database for the session's shared platform."""
    database = TestDb()
    yield database
    database.drop()


@pytest.fixture(scope="session")
def platform(workdir: Path, db: TestDb) -> Iterator[Platform]:
    """The platform most tests share (tests use their own module names and
    users, so they do not see each other)."""
    server = Platform(workdir, db).start()
    yield server
    server.close()


@pytest.fixture
def make_platform(workdir: Path) -> Iterator[Callable[..., Platform]]:
    """Own platforms (on own databases) for tests that restart one or need
    another config."""
    made: List[Platform] = []
    dbs: List[TestDb] = []

    def make(extra: Optional[Dict[str, Any]] = None) -> Platform:
        database = TestDb()
        dbs.append(database)
        server = Platform(workdir, database, extra)
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.close()
    for database in dbs:
        database.drop()
