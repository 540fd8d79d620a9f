"""The device agent's /metrics: what its outbox, connection and counters say, in Prometheus
text that promtool accepts, for this machine only."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from edge.devices.agent import DeviceAgent
from tests.edge.devices.helpers_devices import KIOSK
from tests.helpers_metrics import promtool_check, samples, value


def test_metrics_read_the_agent_and_pass_promtool(agent: DeviceAgent, site_id: str) -> None:
    agent.raise_fault("PRN_JAM", None)
    assert agent.wait_drained(10)
    assert agent.http_address is not None
    url = f"http://127.0.0.1:{agent.http_address[1]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    promtool_check(text)
    found = samples(text)
    ids = {"site": site_id, "device": KIOSK}
    assert value(found, "lobbywatch_device_connected", **ids) == 1.0
    assert value(found, "lobbywatch_device_faults_active", **ids) == 1.0
    assert value(found, "lobbywatch_device_published_total", **ids) >= 2  # birth and the fault
    assert value(found, "lobbywatch_device_outbox_messages", state="unacked", **ids) == 0.0
    request = urllib.request.Request(url, headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
