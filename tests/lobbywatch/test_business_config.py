"""Business types and their limits (hall file ``business``), and the gateway's ticket endpoint
settings (``gateway.tickets``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lobbywatch.config.business import business_limit_min, business_name
from lobbywatch.config.site import SiteConfig, Thresholds
from lobbywatch.config.tickets import TicketIntakeConfig


def _site(**extra: Any) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": "h1",
            "name": {"en": "Hall", "zh-CN": "营业厅"},
            "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "17:00"}],
            "zones": [{"id": "q", "kind": "queue"}],
            **extra,
        }
    )


def test_default_limits_are_the_floor_rules() -> None:
    cfg = _site()
    limits = {
        b: business_limit_min(cfg.business, cfg.thresholds, b)
        for b in ("new_subscription", "sim_replacement", "x")
    }
    assert limits == {"new_subscription": 8, "sim_replacement": 3, "x": 3}


def test_hall_file_limits_and_names_win() -> None:
    cfg = _site(
        thresholds={"transaction_min": 5, "new_subscription_min": 10},
        business={
            "broadband": {"en": "Broadband", "zh-CN": "宽带", "limit_min": 6},
            "sim_replacement": {"en": "SIM swap", "zh-CN": "换卡", "limit_min": 4},
        },
    )
    th = cfg.thresholds
    assert business_limit_min(cfg.business, th, "broadband") == 6
    assert business_limit_min(cfg.business, th, "sim_replacement") == 4
    assert business_limit_min(cfg.business, th, "new_subscription") == 10
    assert business_limit_min(cfg.business, th, "bill_query") == 5
    assert business_name(cfg.business, "sim_replacement") == {"en": "SIM swap", "zh-CN": "换卡"}
    assert business_name(cfg.business, "new_subscription") == {"en": "New subscription", "zh-CN": "新装入网"}
    assert business_name({}, "bill_query") == {"en": "bill_query", "zh-CN": "bill_query"}
    assert business_limit_min({}, Thresholds(), "new_subscription") == 8


@pytest.mark.parametrize(
    "business",
    [
        {"Broadband": {"en": "B", "zh-CN": "宽"}},
        {"broadband": {"en": "B", "zh-CN": "宽", "limit_min": 0}},
        {"broadband": {"en": "B", "zh-CN": "宽", "colour": "red"}},
    ],
)
def test_bad_business_types_are_rejected(business: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _site(business=business)


def test_ticket_endpoint_needs_a_token_when_on(tmp_path: Path) -> None:
    assert TicketIntakeConfig().port == 0
    with pytest.raises(ValidationError, match="needs token_file"):
        TicketIntakeConfig(port=9110)
    cfg = _site(gateway={"tickets": {"port": 9110, "token_file": str(tmp_path / "t")}})
    assert cfg.gateway.tickets.system == "qms"
