"""The Alembic configuration the server's migrations run with, for tests that step through them."""

from __future__ import annotations

from alembic.config import Config

from server.storage.db import ALERTS_MIGRATIONS, MIGRATIONS


def migration_config() -> Config:
    """The Alembic configuration :func:`server.storage.db.run_migrations` uses."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_locations", f"{MIGRATIONS / 'versions'} {ALERTS_MIGRATIONS}")
    config.set_main_option("path_separator", "space")
    return config
