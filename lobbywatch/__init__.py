"""LobbyWatch: what every component shares (protocol, configuration, clock, MQTT, CLI)."""

__version__ = "0.1.0"
