"""Kiosk and counter-terminal devices: the agent, the fault catalogue, the conformance checker,
the device simulator and the hall broker's credentials.

* :mod:`edge.devices.agent` — :class:`~edge.devices.agent.DeviceAgent` (daemon and library)
* :mod:`edge.devices.outbox` — durable, numbered outbox (SQLite WAL)
* :mod:`edge.devices.http_api` — local HTTP interface on 127.0.0.1
* :mod:`edge.devices.checks` — built-in checks (process, URL, disk, command)
* :mod:`edge.devices.faults` — the fault catalogue (source of ``docs/fault-codes.md``)
* :mod:`edge.devices.checker` — protocol v1 conformance checker
* :mod:`edge.devices.simulator` — :class:`~edge.devices.simulator.DeviceFleetSimulator`
* :mod:`edge.devices.credentials` — Mosquitto password file, ACL and configuration

See ``docs/device-agent.md``.
"""
