"""Shared fixtures for the scraping tests: a running simulator and a client pointed at it.

The simulator fixtures (`census_simulator`, `simulator`) come from simulator.testing, bound in
the conftest above: one simulator for the whole run. No Django here. Without pytest-django,
skip that conftest and load the simulator fixtures as a plugin:
    PYTHONPATH=. .venv/bin/pytest -p no:django -p simulator.testing --confcutdir=tests/scraping \
        tests/scraping
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scraping.client import CensusClient
from scraping.config import ScrapingConfig
from simulator import SimulatorServer
from simulator.testing import simulator_config
from tests.browsers import TEST_BROWSER, keep_open


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long run of lookups (deselect with -m 'not soak')")


def scraping_config(sim: SimulatorServer, **overrides: object) -> ScrapingConfig:
    """`simulator_config` with the tests' browser (tests/browsers.py). `browser_path=None` is
    production's own: the strict-mode tests (what a bot check sees of it) take it."""
    return simulator_config(sim, **{"browser_path": TEST_BROWSER, **overrides})


def kept_client(census_simulator: SimulatorServer, **overrides: object) -> Iterator[CensusClient]:
    """A client (one browser) kept across tests, as in a worker process: the body of a session
    or module fixture. Tests take it through `as_fresh_visitor`."""
    client = CensusClient(scraping_config(census_simulator, **overrides))
    yield client
    client.close()


def as_fresh_visitor(client: CensusClient) -> CensusClient:
    """No cookie of an earlier test skips this one's F5 challenge (the kept page stays)."""
    client.forget_the_site()
    return keep_open(client)


@pytest.fixture(scope="session")
def _shared_client(census_simulator: SimulatorServer) -> Iterator[CensusClient]:
    # Short API/element timeouts: fault tests (hang, missing form) cost seconds, not minutes.
    # Navigation keeps headroom: a loaded 2-CPU box needs it for the challenge round trip.
    yield from kept_client(
        census_simulator, api_timeout=3.0, element_timeout=4.0, navigation_timeout=10.0
    )


@pytest.fixture
def census_client(simulator: SimulatorServer, _shared_client: CensusClient) -> CensusClient:
    return as_fresh_visitor(_shared_client)


@pytest.fixture
def make_client(simulator: SimulatorServer) -> Iterator:
    """Build extra clients with config overrides; closed at the end of the test."""
    made: list[CensusClient] = []

    def make(**overrides: object) -> CensusClient:
        client = CensusClient(scraping_config(simulator, **overrides))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
