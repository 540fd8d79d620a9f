"""Configuration files: models and the located-error loader."""

from lobbywatch.config.loader import ConfigError, ConfigIssue, load_yaml_model
from lobbywatch.config.site import (
    CameraConfig,
    CounterConfig,
    DeviceConfig,
    SiteConfig,
    Thresholds,
    ZoneConfig,
    load_site_config,
)

__all__ = [
    "CameraConfig",
    "ConfigError",
    "ConfigIssue",
    "CounterConfig",
    "DeviceConfig",
    "SiteConfig",
    "Thresholds",
    "ZoneConfig",
    "load_site_config",
    "load_yaml_model",
]
