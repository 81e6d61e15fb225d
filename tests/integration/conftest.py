"""Broker for the integration tests: the embedded one, or the cluster in VIGIL_BOOTSTRAP."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from loadtest.harness.deployment import Deployment
from streams.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def embedded() -> bool:
    """True when the tests run on the embedded broker (no VIGIL_BOOTSTRAP)."""
    return not os.environ.get("VIGIL_BOOTSTRAP")


@pytest.fixture(scope="session")
def bootstrap(embedded: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of the broker every integration test uses."""
    if not embedded:
        yield os.environ["VIGIL_BOOTSTRAP"]
        return
    broker = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    info = broker.start()
    try:
        yield info.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def deployment_factory(bootstrap: str, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[Callable[..., Deployment]]:
    """Make deployments (own topics and worker) that are stopped when the test ends."""
    made: list[Deployment] = []

    def make(**overrides: str) -> Deployment:
        d = Deployment(bootstrap, tmp_path_factory.mktemp("deployment"), **overrides)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture
def fresh_broker(embedded: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second embedded broker, empty: what a broker that lost its data looks like."""
    if not embedded:
        pytest.skip("starts an embedded broker of its own")
    broker = EmbeddedBroker(tmp_path_factory.mktemp("fresh-broker"))
    try:
        yield broker.start().bootstrap
    finally:
        broker.stop()
