"""Fixtures for the booking tests. Model imports stay inside the fixtures: a
conftest is loaded before Django is set up."""

import pytest


@pytest.fixture
def gateway():
    from gateways.simulated import SimulatedGateway

    return SimulatedGateway()


@pytest.fixture
def stuck_payment(gateway):
    """A payment a worker marked processing `minutes_ago` and then lost: charged at
    the gateway with `charged_with` (or never, when None) but never recorded."""
    from tests.payments.factories import make_stuck

    def make(**kwargs):
        return make_stuck(gateway, **kwargs)

    return make
