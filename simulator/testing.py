"""Pytest fixtures around the simulator, bound once in tests/conftest.py:

    from simulator import testing as simulator_fixtures
    census_simulator = simulator_fixtures.census_simulator
    simulator = simulator_fixtures.simulator

(or loaded as a plugin, `pytest -p simulator.testing`, where that conftest is left out).

`census_simulator` (session) runs one SimulatorServer on a free port; `simulator` hands it
to a test with faults, settings, tokens, counters and log reset before and after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scraping.config import ScrapingConfig
from simulator.server import SimulatorServer

TEST_API_KEY = "test-2captcha-key"


@pytest.fixture(scope="session")
def census_simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0) as sim:
        yield sim


@pytest.fixture
def simulator(census_simulator: SimulatorServer) -> Iterator[SimulatorServer]:
    census_simulator.control.reset()
    yield census_simulator
    census_simulator.control.reset()


def simulator_config(sim: SimulatorServer, **overrides: object) -> ScrapingConfig:
    """A ScrapingConfig pointed at `sim`: 2captcha solver on the simulator, pauses off,
    short timeouts so fault tests stay fast."""
    values: dict[str, object] = {
        "url": sim.url,
        "wsp_url": sim.wsp_url,
        "captcha_solver": "twocaptcha",
        "captcha_api_url": sim.solver_url,
        "captcha_api_key": TEST_API_KEY,
        "captcha_poll_interval": 0.02,
        "captcha_timeout": 10.0,
        "human_pauses": None,
        "navigation_timeout": 10.0,
        "element_timeout": 5.0,
        "api_timeout": 5.0,
    }
    values.update(overrides)
    return ScrapingConfig(**values)
