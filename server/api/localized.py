"""The one output shape of a text people read: ``{"en": ..., "zh-CN": ...}``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LocalizedOut(BaseModel):
    """A text in both languages staff read (alert titles and bodies, hall and zone names)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    en: str = Field(description="English.")
    zh_cn: str = Field(alias="zh-CN", serialization_alias="zh-CN", description="Chinese.")
