"""The fault catalogue: every fault code a kiosk or counter terminal may raise, with its
severity, whether it makes the device unusable, and its text and action in zh-CN and en.

:data:`BUILTIN_FAULTS` is the built-in catalogue, :func:`load_vendor_codes` reads a vendor's
YAML file, :func:`render_markdown` writes ``docs/fault-codes.md`` (the list and the format).

>>> FaultCatalogue().get("PRN_PAPER_OUT").unusable
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.config.loader import Loc, load_yaml_model
from lobbywatch.protocol.enums import Severity
from lobbywatch.protocol.fields import FaultCode
from lobbywatch.protocol.messages import LocalizedText


class FaultSpec(BaseModel):
    """One entry of the fault catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    code: FaultCode = Field(description="Fault code, upper case, e.g. PRN_PAPER_OUT.")
    severity: Severity = Field(description="info, warning or critical.")
    unusable: bool = Field(description="Whether the fault makes the device unusable for customers.")
    text: LocalizedText = Field(description="What is wrong, as a person reads it.")
    action: LocalizedText = Field(description="What staff or the vendor should do.")


def _f(code: str, severity: Severity, unusable: bool, zh: str, en: str, azh: str, aen: str) -> FaultSpec:
    return FaultSpec(
        code=code,
        severity=severity,
        unusable=unusable,
        text=LocalizedText(zh_cn=zh, en=en),
        action=LocalizedText(zh_cn=azh, en=aen),
    )


_C, _W, _I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

BUILTIN_FAULTS: tuple[FaultSpec, ...] = (
    _f("PRN_PAPER_OUT", _C, True, "打印机缺纸", "Printer out of paper",
       "更换打印纸卷", "Load a new paper roll"),
    _f("PRN_PAPER_LOW", _I, False, "打印纸即将用完", "Printer paper low",
       "准备更换纸卷", "Have a paper roll ready"),
    _f("PRN_JAM", _C, True, "打印机卡纸", "Printer jammed",
       "打开打印机清除卡纸", "Open the printer and clear the jam"),
    _f("CARD_READER_ERROR", _C, True, "读卡器故障", "Card reader error",
       "重启设备；仍有故障则报修", "Restart the device; call the vendor if it persists"),
    _f("CASH_FULL", _C, True, "钞箱已满", "Cash box full",
       "按流程清机收款", "Empty the cash box following the cash-handling procedure"),
    _f("CASH_JAM", _C, True, "纸币器卡币", "Cash module jammed",
       "报修代维公司", "Call the maintenance vendor"),
    _f("COIN_HOPPER_EMPTY", _W, False, "找零硬币用完", "Coin hopper empty",
       "补充硬币", "Refill the coin hopper"),
    _f("SIM_STOCK_EMPTY", _C, True, "SIM 卡已发完", "SIM card stock empty",
       "补充 SIM 卡", "Refill SIM cards"),
    _f("CARD_STOCK_EMPTY", _C, True, "卡片已发完", "Card stock empty",
       "补充卡片", "Refill cards"),
    _f("NET_LOST", _C, True, "网络中断", "Network lost",
       "检查网线和交换机", "Check the network cable and switch"),
    _f("TOUCH_UNRESPONSIVE", _C, True, "触摸屏无响应", "Touchscreen unresponsive",
       "重启设备；仍有故障则报修", "Restart the device; call the vendor if it persists"),
    _f("DISPLAY_FAULT", _C, True, "显示屏故障", "Display fault",
       "报修代维公司", "Call the maintenance vendor"),
    _f("APP_CRASHED", _C, True, "应用程序崩溃", "Application crashed",
       "重启应用；仍有故障则报修", "Restart the application; call the vendor if it persists"),
    _f("PROCESS_DOWN", _C, True, "关键进程未运行", "Required process not running",
       "重启设备", "Restart the device"),
    _f("URL_UNREACHABLE", _W, False, "业务服务无法访问", "Service URL not answering",
       "检查网络和后台服务", "Check the network and the back-end service"),
    _f("DISK_LOW", _W, False, "磁盘空间不足", "Free disk space low",
       "清理日志或报修", "Clean up logs or call the vendor"),
    _f("CHECK_FAILED", _W, False, "设备自检失败", "Device self-check failed",
       "查看设备日志", "Look at the device log"),
    _f("UPS_ON_BATTERY", _W, False, "UPS 电池供电中", "UPS on battery",
       "检查市电供应", "Check the mains supply"),
    _f("DOOR_OPEN", _W, False, "设备柜门打开", "Cabinet door open",
       "确认是否在维护，否则关门", "Check for maintenance work; close the door otherwise"),
    _f("TAMPER", _C, True, "设备被撬或异常开启", "Tamper detected",
       "立即通知值班经理和安保", "Tell the duty manager and security at once"),
    _f("SCANNER_ERROR", _W, False, "扫码器故障", "Barcode scanner error",
       "擦拭扫码窗口；仍有故障则报修", "Clean the scanner window; call the vendor if it persists"),
    _f("TEMP_HIGH", _W, False, "设备温度过高", "Device temperature high",
       "检查通风和风扇", "Check ventilation and fans"),
)  # fmt: skip


class VendorCodes(BaseModel):
    """A vendor's YAML file of extra fault codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codes: list[FaultSpec] = Field(min_length=1, max_length=500, description="Extra fault codes.")


class UnknownFaultCode(KeyError):
    """A fault code that is neither built in nor declared by a vendor file."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"unknown fault code {self.code!r}; see docs/fault-codes.md for the catalogue"


class FaultCatalogue:
    """The built-in codes plus any vendor extensions; looks codes up by name."""

    def __init__(self, extra: Iterable[FaultSpec] = ()) -> None:
        self._specs: dict[str, FaultSpec] = {f.code: f for f in BUILTIN_FAULTS}
        for spec in extra:
            if spec.code in self._specs:
                raise ValueError(f"fault code {spec.code!r} is already in the catalogue")
            self._specs[spec.code] = spec

    def get(self, code: str) -> FaultSpec:
        try:
            return self._specs[code]
        except KeyError:
            raise UnknownFaultCode(code) from None

    def __contains__(self, code: object) -> bool:
        return code in self._specs

    def __iter__(self) -> Iterator[FaultSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


def load_vendor_codes(path: Path) -> list[FaultSpec]:
    """Read a vendor code file; raises ``ConfigError`` with file:line and field of each problem."""
    builtin = {f.code for f in BUILTIN_FAULTS}

    def checks(doc: VendorCodes) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        seen: dict[str, int] = {}
        for i, spec in enumerate(doc.codes):
            if spec.code in builtin:
                problems.append((("codes", i, "code"), f"{spec.code!r} is a built-in code; pick another"))
            elif spec.code in seen:
                problems.append(
                    (("codes", i, "code"), f"duplicate code {spec.code!r} (also codes[{seen[spec.code]}])")
                )
            seen.setdefault(spec.code, i)
        return problems

    return list(load_yaml_model(path, VendorCodes, checks).codes)


def load_catalogue(vendor_files: Iterable[Path] = ()) -> FaultCatalogue:
    """The built-in catalogue extended by each vendor file."""
    extra: list[FaultSpec] = []
    for path in vendor_files:
        extra += load_vendor_codes(path)
    return FaultCatalogue(extra)


def render_markdown(catalogue: FaultCatalogue | None = None) -> str:
    """The text of ``docs/fault-codes.md``."""
    cat = catalogue or FaultCatalogue()
    lines = [
        "# Fault codes / 故障代码",
        "",
        "<!-- Generated from edge/devices/faults.py by `lobbywatch edge device fault-codes`;",
        "     do not edit by hand. -->",
        "",
        "Codes a kiosk or counter terminal sends in `device_event` messages (`fault_raised`,",
        "`fault_cleared`). *Unusable* faults put the device out of service automatically and",
        "take it out of the hall's self-service capacity.",
        "",
        "设备在 `device_event` 消息中上报的故障代码。“不可用”故障会自动挂出暂停服务告示，",
        "并从厅内自助服务能力中扣除该设备。",
        "",
        "Vendors add their own codes with a YAML file (`--vendor-codes FILE`):",
        "",
        "```yaml",
        "codes:",
        "  - code: HX_BILL_ACCEPTOR_E12",
        "    severity: critical",
        "    unusable: true",
        "    text: {zh-CN: 纸币器故障 E12, en: Bill acceptor error E12}",
        "    action: {zh-CN: 通知华信代维, en: Call Huaxin maintenance}",
        "```",
        "",
        "| code | severity | unusable | 中文 | English | 处理 | action |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in cat:
        lines.append(
            f"| `{f.code}` | {f.severity.value} | {'yes' if f.unusable else 'no'} | {f.text.zh_cn} "
            f"| {f.text.en} | {f.action.zh_cn} | {f.action.en} |"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "BUILTIN_FAULTS",
    "FaultCatalogue",
    "FaultSpec",
    "UnknownFaultCode",
    "VendorCodes",
    "load_catalogue",
    "load_vendor_codes",
    "render_markdown",
]
