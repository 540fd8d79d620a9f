"""Business types of the hall's queue tickets and their transaction limits (hall file ``business``).

A ticket names its business type (``new_subscription``, ``sim_replacement``, ...). Its limit
is the one configured here, else the floor rule's number in ``thresholds``
(``new_subscription_min`` 8 min, ``sim_replacement_min`` 3 min, ``transaction_min`` 3 min for
anything else; DOMAIN.md, "Rules with numbers"). :func:`business_limit_min` is the one
place that answers it; docs/alerts.md ("Per-business limits") has the story.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

NEW_SUBSCRIPTION = "new_subscription"
SIM_REPLACEMENT = "sim_replacement"
OTHER = "other"


class BusinessType(BaseModel):
    """One business type: its names (for displays and alerts) and, optionally, its own limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    en: str = Field(min_length=1, max_length=120, description="English name.")
    zh_cn: str = Field(alias="zh-CN", min_length=1, max_length=120, description="Chinese name.")
    limit_min: float | None = Field(
        default=None, gt=0, le=120, description="Transaction limit, minutes (default: see thresholds)."
    )


KNOWN: dict[str, BusinessType] = {
    NEW_SUBSCRIPTION: BusinessType(en="New subscription", zh_cn="新装入网"),
    SIM_REPLACEMENT: BusinessType(en="SIM replacement", zh_cn="补换卡"),
    OTHER: BusinessType(en="Other business", zh_cn="其他业务"),
}
"""Names of the business types the floor rules name, used where the hall file has none."""


class LimitThresholds(Protocol):
    """The ``thresholds`` numbers a business limit falls back to."""

    @property
    def transaction_min(self) -> float: ...
    @property
    def new_subscription_min(self) -> float: ...
    @property
    def sim_replacement_min(self) -> float: ...


def business_limit_min(types: dict[str, BusinessType], thresholds: LimitThresholds, business: str) -> float:
    """The transaction limit of ``business``, in minutes: its own, else the floor rule's."""
    own = types.get(business)
    if own is not None and own.limit_min is not None:
        return own.limit_min
    if business == NEW_SUBSCRIPTION:
        return thresholds.new_subscription_min
    if business == SIM_REPLACEMENT:
        return thresholds.sim_replacement_min
    return thresholds.transaction_min


def business_name(types: dict[str, BusinessType], business: str) -> dict[str, str]:
    """The business type's name in both languages (its id when nothing names it)."""
    t = types.get(business) or KNOWN.get(business)
    return {"en": t.en, "zh-CN": t.zh_cn} if t is not None else {"en": business, "zh-CN": business}
