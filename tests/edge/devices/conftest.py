"""Fixtures of the device tests: a running agent on the shared test broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.devices.agent import DeviceAgent
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.services import wait_until
from tests.edge.devices.helpers_devices import KIOSK, hall


@pytest.fixture
def agent(site_id: str, broker_cfg: BrokerConfig, tmp_path: Path, clock: FixedClock) -> Iterator[DeviceAgent]:
    """The example hall's kiosk agent, connected, its local API on a free port."""
    a = DeviceAgent(
        hall(site_id), KIOSK, state_dir=tmp_path / "state", broker=broker_cfg, clock=clock, http_port=0
    ).start()
    assert wait_until(lambda: a.connected, 10)
    yield a
    a.stop()
