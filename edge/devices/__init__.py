"""Kiosk and counter-terminal devices: the agent (with its outbox, local HTTP API and checks),
the fault catalogue, the conformance checker, the device fleet simulator and the hall
broker's credentials. See ``docs/device-agent.md``.
"""
