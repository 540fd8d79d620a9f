"""The fault catalogue, its generated document and vendor extensions."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.devices.faults import (
    BUILTIN_FAULTS,
    FaultCatalogue,
    UnknownFaultCode,
    load_catalogue,
    render_markdown,
)
from lobbywatch.config import ConfigError
from lobbywatch.protocol.enums import Severity

DOC = Path(__file__).resolve().parents[3] / "docs" / "fault-codes.md"


def test_doc_is_generated_from_the_catalogue() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/fault-codes.md is stale: run `lobbywatch edge device fault-codes --out docs/fault-codes.md`"
    )


def test_catalogue_covers_the_issue_faults() -> None:
    cat = FaultCatalogue()
    for code in (
        "PRN_PAPER_OUT",
        "PRN_JAM",
        "CARD_READER_ERROR",
        "CASH_FULL",
        "CASH_JAM",
        "COIN_HOPPER_EMPTY",
        "NET_LOST",
        "TOUCH_UNRESPONSIVE",
        "APP_CRASHED",
        "UPS_ON_BATTERY",
        "DOOR_OPEN",
        "TAMPER",
    ):
        spec = cat.get(code)
        assert spec.text.zh_cn
        assert spec.text.en
        assert spec.action.zh_cn
        assert spec.action.en
    assert cat.get("PRN_PAPER_OUT").unusable
    assert cat.get("PRN_PAPER_OUT").severity == Severity.CRITICAL
    assert not cat.get("UPS_ON_BATTERY").unusable
    assert len({f.code for f in BUILTIN_FAULTS}) == len(BUILTIN_FAULTS)
    with pytest.raises(UnknownFaultCode, match="PRN_PAPER_GONE"):
        cat.get("PRN_PAPER_GONE")


def test_vendor_codes_extend_the_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "huaxin.yaml"
    path.write_text(
        "codes:\n"
        "  - code: HX_BILL_E12\n"
        "    severity: critical\n"
        "    unusable: true\n"
        "    text: {zh-CN: 纸币器故障 E12, en: Bill acceptor error E12}\n"
        "    action: {zh-CN: 通知华信代维, en: Call Huaxin maintenance}\n",
        encoding="utf-8",
    )
    cat = load_catalogue([path])
    assert cat.get("HX_BILL_E12").unusable
    assert "HX_BILL_E12" in render_markdown(cat)


def test_vendor_code_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "codes:\n"
        "  - code: PRN_JAM\n"
        "    severity: critical\n"
        "    unusable: true\n"
        "    text: {zh-CN: 卡纸, en: Jam}\n"
        "    action: {zh-CN: 处理, en: Fix}\n"
        "  - code: hx_lower\n"
        "    severity: fatal\n"
        "    unusable: true\n"
        "    text: {zh-CN: 坏, en: Bad}\n"
        "    action: {zh-CN: 修, en: Fix}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_catalogue([path])
    text = str(err.value)
    assert "bad.yaml:7 codes[1].code" in text
    assert "bad.yaml:8 codes[1].severity" in text
    # the built-in clash is reported once the shape is valid
    path.write_text(path.read_text().replace("hx_lower", "HX_OK").replace("fatal", "warning"))
    with pytest.raises(ConfigError, match=r"bad.yaml:2 codes\[0\].code: 'PRN_JAM' is a built-in code"):
        load_catalogue([path])
