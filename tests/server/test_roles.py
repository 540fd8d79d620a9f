"""Server roles: parsing, and a split of roles only on a bus that reaches other processes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.core.config import BusConfig, ServerSettings
from server.roles import ALL_ROLES, ServerRole, parse_roles

pytestmark = pytest.mark.unit


def test_all_and_lists_parse_in_a_stable_order() -> None:
    assert set(parse_roles("all")) == ALL_ROLES
    assert parse_roles("worker, ingest") == [ServerRole.INGEST, ServerRole.WORKER]


def test_an_unknown_role_is_named() -> None:
    with pytest.raises(ValueError, match="unknown server role injest"):
        parse_roles("injest,api")


def test_the_default_runs_every_role_in_process() -> None:
    settings = ServerSettings()
    assert all(settings.has_role(r) for r in ServerRole)


def test_split_roles_need_jetstream() -> None:
    with pytest.raises(ValidationError, match=r"needs bus\.kind jetstream"):
        ServerSettings(roles=[ServerRole.INGEST])
    settings = ServerSettings(roles=[ServerRole.INGEST], bus=BusConfig(kind="jetstream"))
    assert settings.has_role(ServerRole.INGEST)
    assert not settings.has_role(ServerRole.WORKER)
