"""Every word of the alerts a person reads, in zh-CN and en: titles and bodies by alert
kind (:data:`TEMPLATES`; by kind and lifecycle step where a step says something else,
:data:`EVENT_TEMPLATES`: a peak extended or over), the texts behind the rules' text keys (:data:`TEXTS`), why
an alert is muted (:data:`MUTE_TEXTS`), and the acknowledge link line (:data:`ACK_LINK`).

Parameters come from the rule that raised the alert: a plain value; a ``{"en": ...,
"zh-CN": ...}`` name from the hall's configuration; a list of ids (joined with ", " or
"、", "none"/"无" when empty); in ``what`` and ``why``, a text key of :data:`TEXTS` (a
camera's own reason, not a key, is shown as it came); ``detail``, a device's own words,
in brackets when there are any. An alert sent late (``server.alerts.late``) says since
when (``since``, the hall's local time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from server.alerts.device_facts import OfflineReason
from server.alerts.model import Alert, AlertKind, MuteReason, UpdateEvent
from server.alerts.muting import MuteText
from server.alerts.rules.sensing import SensingText
from server.alerts.rules.vendor_sla import SlaText

Lang = Literal["zh-CN", "en"]
LANGS: tuple[Lang, Lang] = ("zh-CN", "en")


@dataclass(frozen=True, slots=True)
class Template:
    title: dict[Lang, str]
    body: dict[Lang, str]


def _t(title_zh: str, title_en: str, body_zh: str, body_en: str) -> Template:
    return Template({"zh-CN": title_zh, "en": title_en}, {"zh-CN": body_zh, "en": body_en})


TEMPLATES: dict[str, Template] = {
    AlertKind.CROWDING: _t(
        "拥挤：{where}",
        "Crowding: {where}",
        "{where}现有约 {occupancy:.0f} 人，超过容量 {capacity} 人，已持续 {held_s:.0f} 秒。请疏导客流。",
        "{where} holds about {occupancy:.0f} people, over its capacity of {capacity}, "
        "for {held_s:.0f} s. Spread the crowd.",
    ),
    AlertKind.LONG_WAIT: _t(
        "关怀客户：{where}",
        "Care visit: {where}",
        "{where}有客户已等候 {wait_min:.0f} 分钟（超过 {limit_min:g} 分钟的有 {over} 人）。"
        "请引导员前往关怀。",
        "Someone in {where} has waited {wait_min:.0f} min ({over} past the {limit_min:g}-min "
        "limit). Guide: please visit them.",
    ),
    AlertKind.EXPECTED_WAIT: _t(
        "预计等候过长：{where}",
        "Expected wait too long: {where}",
        "{where}预计等候 {expected_min:.0f} 分钟，超过 {limit_min:g} 分钟上限。请增开台席。",
        "Expected wait in {where} is {expected_min:.0f} min, over the {limit_min:g}-min limit. "
        "Open more counters.",
    ),
    AlertKind.NO_UPSELL: _t(
        "停止营销：{where}",
        "No upsell: {where}",
        "{where}排队 {queue} 人（达到 {threshold} 人）。台席 {counter_ids} 请暂停推荐新业务，"
        "降至 {clear} 人以下后恢复。",
        "{where} has {queue} in line (limit {threshold}). Counters {counter_ids}: stop offering "
        "new products until it falls to {clear}.",
    ),
    AlertKind.TRANSACTION_OVERTIME: _t(
        "业务办理超时：{where}",
        "Transaction overtime: {where}",
        "{where}当前业务已办理 {service_min:.1f} 分钟，超过 {limit_min:g} 分钟时限。",
        "The transaction at {where} has run {service_min:.1f} min, past the {limit_min:g}-min limit.",
    ),
    AlertKind.PEAK_FORECAST: _t(
        "即将进入高峰：{peak_start}–{peak_end}",
        "Busy hours ahead: {peak_start}–{peak_end}",
        "预计 {peak_start}–{peak_end} 为高峰，每小时到厅最多约 {expected:.0f} 人。"
        "请启动高峰预案：值班经理到场，开足台席，开放快速通道，引导简单业务到自助区。离席：{away_ids}；学习：{learning_ids}。",
        "Busy hours {peak_start}–{peak_end}: up to {expected:.0f} arrivals an hour expected. Busy-hour "
        "playbook: manager on the floor, open all counters, open the fast lane, steer simple jobs to "
        "kiosks. Away: {away_ids}; learning: {learning_ids}.",
    ),
    AlertKind.PEAK_SURGE: _t(
        "客流激增",
        "Arrivals surge",
        "近 10 分钟到厅 {arrivals} 人（阈值 {threshold}）。请启动高峰预案：值班经理到场，开足台席，"
        "开放快速通道，引导简单业务到自助区。离席：{away_ids}；学习：{learning_ids}。",
        "{arrivals} arrivals in the last 10 min (threshold {threshold}). Busy-hour playbook: "
        "manager on the floor, open all counters, open the fast lane, steer simple jobs to "
        "kiosks. Away: {away_ids}; learning: {learning_ids}.",
    ),
    AlertKind.DEVICE_FAULT: _t(
        "设备故障：{device}",
        "Device fault: {device}",
        "{device}（{model}，代维 {vendor}）故障 {code}{detail}。请立即张贴暂停服务告示，并通知代维维修。",
        "{device} ({model}, vendor {vendor}) reports fault {code}{detail}. Post the "
        "out-of-service notice now; the vendor repairs it.",
    ),
    AlertKind.DEVICE_OFFLINE: _t(
        "设备离线：{device}",
        "Device offline: {device}",
        "{device}（代维 {vendor}）已离线（{why}）。请检查电源和网络。",
        "{device} (vendor {vendor}) is offline ({why}). Check its power and network.",
    ),
    AlertKind.KIOSK_CAPACITY: _t(
        "自助设备不足",
        "Too few working kiosks",
        "可用自助设备 {working}/{total} 台，少于 {minimum} 台。不可用：{down_ids}。请引导客户到台席并催修。",
        "{working} of {total} kiosks work, fewer than {minimum}. Down: {down_ids}. Steer customers "
        "to counters and chase the repair.",
    ),
    AlertKind.LOITERING: _t(
        "客户徘徊：{where}",
        "Loitering: {where}",
        "{where}有 {count} 位客户长时间停留未办理业务。请引导员主动询问。",
        "{count} people have lingered in {where} without joining a queue. Guide: please approach them.",
    ),
    AlertKind.SENSING_BLIND: _t(
        "感知中断：{what}",
        "Sensing blind: {what}",
        "{what}无数据（{why}）。相关区域和设备的告警暂缓，以免误报。",
        "No data from {what} ({why}). Alerts of its zones and devices are held back to avoid false alarms.",
    ),
    AlertKind.DEVICE_CLOCK: _t(
        "时钟错误：{source}",
        "Wrong clock: {source}",
        "{source}的消息时间错误（最近一条为 {stamped}），已拒收 {count} 条，"
        "其数据未入库。请校准其时钟（NTP）。",
        "{source} stamps its messages with a wrong time (the last: {stamped}); {count} rejected, "
        "its data is not stored. Fix its clock (NTP).",
    ),
    AlertKind.VENDOR_SLA_WARNING: _t(
        "{what}即将超时：{device}",
        "Vendor {what} target at risk: {device}",
        "{device}故障 {code}（代维 {vendor}）已计营业时间 {elapsed_min:g} 分钟，达到{what}时限 "
        "{limit_min:g} 分钟的 {warn_pct:g}%，将于 {due} 超时。请代维尽快处理。",
        "Fault {code} of {device} (vendor {vendor}) has been open {elapsed_min:g} min of opening "
        "hours, {warn_pct:g} % of its {limit_min:g}-min {what} target; it is missed at {due}. "
        "Vendor: please act now.",
    ),
    AlertKind.VENDOR_SLA_MISSED: _t(
        "{what}超时：{device}",
        "Vendor {what} target missed: {device}",
        "{device}故障 {code}（代维 {vendor}）已超过{what}时限 {limit_min:g} 分钟（营业时间，"
        "于 {due} 到期）。请值班经理督促代维。",
        "Fault {code} of {device} (vendor {vendor}) has missed its {limit_min:g}-min {what} "
        "target (opening hours, due at {due}). Manager: chase the vendor.",
    ),
}

EVENT_TEMPLATES: dict[tuple[str, UpdateEvent], Template] = {
    (AlertKind.PEAK_FORECAST, UpdateEvent.EXTENDED): _t(
        "高峰延长：{peak_start}–{peak_end}",
        "Busy hours extended: {peak_start}–{peak_end}",
        "高峰延长至{peak_end}（{peak_start}–{peak_end}，每小时到厅最多约 {expected:.0f} 人）。"
        "高峰预案继续执行至 {peak_end}。离席：{away_ids}；学习：{learning_ids}。",
        "Busy hours extended to {peak_end} ({peak_start}–{peak_end}, up to {expected:.0f} arrivals "
        "an hour). Keep the busy-hour playbook running until {peak_end}. Away: {away_ids}; "
        "learning: {learning_ids}.",
    ),
    (AlertKind.PEAK_FORECAST, UpdateEvent.RESOLVED): _t(
        "高峰已结束：{peak_start}–{peak_end}",
        "Busy hours over: {peak_start}–{peak_end}",
        "{peak_start}–{peak_end} 高峰已结束，可恢复日常安排。",
        "Busy hours {peak_start}–{peak_end} are over: back to the usual arrangements.",
    ),
    (AlertKind.PEAK_SURGE, UpdateEvent.RESOLVED): _t(
        "客流激增已结束",
        "Arrivals surge over",
        "客流激增已结束：近 10 分钟到厅已低于 {clear:.0f} 人，可恢复日常安排。",
        "The arrivals surge is over: under {clear:.0f} arrivals in the last 10 min, back to the usual "
        "arrangements.",
    ),
}
"""Where a lifecycle step says something else than the alert itself: a peak extended or over."""

TEXTS: dict[str, dict[Lang, str]] = {
    OfflineReason.WILL: {"zh-CN": "遗嘱消息", "en": "last will"},
    OfflineReason.SHUTDOWN: {"zh-CN": "已关机", "en": "shut down"},
    OfflineReason.HEARTBEAT: {"zh-CN": "心跳超时", "en": "heartbeat missed"},
    SensingText.CAMERA: {"zh-CN": "{camera}", "en": "{camera}"},
    SensingText.GATEWAY: {"zh-CN": "{hall}网关", "en": "gateway of {site}"},
    SensingText.STREAM_LOST: {"zh-CN": "视频流中断", "en": "stream lost"},
    SensingText.CAMERA_OFFLINE: {"zh-CN": "离线", "en": "offline"},
    SlaText.RESPOND: {"zh-CN": "响应", "en": "response"},
    SlaText.REPAIR: {"zh-CN": "修复", "en": "repair"},
    SensingText.NO_DATA: {"zh-CN": "超过 {silence_s:g} 秒无数据", "en": "no data for over {silence_s:g} s"},
}
"""The texts behind the text keys rules put in ``what`` and ``why``; filled from the alert's parameters."""

TEXT_PARAMS = ("what", "why")

MUTE_TEXTS: dict[str, dict[Lang, str]] = {
    MuteText.SILENCE: {"zh-CN": "已静默：{source}", "en": "Silenced: {source}"},
    MuteText.SILENCE_UNTIL: {"zh-CN": "静默至 {source}", "en": "Silenced until {source}"},
    MuteText.GATEWAY_SILENT: {
        "zh-CN": "暂缓：营业厅网关无数据",
        "en": "Held back: no data from the hall's gateway",
    },
    MuteText.CAMERA_BLIND: {
        "zh-CN": "暂缓：摄像头 {source} 无画面",
        "en": "Held back: camera {source} is blind",
    },
    MuteText.GATEWAY_CATCHING_UP: {
        "zh-CN": "暂缓：网关正在补传积压数据",
        "en": "Held back: the gateway is catching up on its backlog",
    },
    MuteText.FLAPPING: {
        "zh-CN": "未发送：已反复 {source} 次",
        "en": "Not sent: reopened {source} times (flapping)",
    },
    MuteText.LATE_DATA: {
        "zh-CN": "未发送：由补传的积压数据触发（已过去的情况）",
        "en": "Not sent: raised from data that arrived late (backlog)",
    },
}
"""Why an alert or an update is held back, by :attr:`MuteReason.key`."""

_LIST_SEP: dict[Lang, str] = {"zh-CN": "、", "en": ", "}
_NONE: dict[Lang, str] = {"zh-CN": "无", "en": "none"}
_DETAIL: dict[Lang, str] = {"zh-CN": "（{}）", "en": " ({})"}
_SINCE: dict[Lang, str] = {
    "zh-CN": "自 {since} 起（营业厅数据延迟上报）。",
    "en": " Since {since} (the hall's data arrived late).",
}

ACK_LINK: dict[Lang, str] = {"zh-CN": "点此确认：{url}", "en": "Acknowledge: {url}"}
"""The acknowledge link line of a chat message (``server.core.ack_links``)."""
ACK_LINK_MARKDOWN: dict[Lang, str] = {"zh-CN": "[点此确认]({url})", "en": "[Acknowledge]({url})"}

_EVENT_PREFIX: dict[UpdateEvent, dict[Lang, str]] = {
    UpdateEvent.FIRED: {"zh-CN": "", "en": ""},
    UpdateEvent.REOPENED: {"zh-CN": "[再次] ", "en": "[Again] "},
    UpdateEvent.ESCALATED: {"zh-CN": "[升级] ", "en": "[Escalated] "},
    UpdateEvent.EXTENDED: {"zh-CN": "[延长] ", "en": "[Extended] "},
    UpdateEvent.ACKNOWLEDGED: {"zh-CN": "[已确认] ", "en": "[Acknowledged] "},
    UpdateEvent.RESOLVED: {"zh-CN": "[已恢复] ", "en": "[Resolved] "},
}


class _Params(dict[str, Any]):
    """An alert's parameters as one language shows them (see the module docstring)."""

    def __init__(self, alert: Alert, lang: Lang) -> None:
        super().__init__(site=alert.site)
        for key, value in alert.params.items():
            if isinstance(value, dict) and lang in value:
                value = value[lang]
            elif isinstance(value, list | tuple):
                value = _LIST_SEP[lang].join(map(str, value)) or _NONE[lang]
            elif key == "detail":
                value = _DETAIL[lang].format(value) if value else ""
            self[key] = value
        for key in TEXT_PARAMS:
            value = self.get(key)
            text = TEXTS.get(value) if isinstance(value, str) else None
            if text is not None:
                self[key] = text[lang].format_map(self)

    def __missing__(self, key: str) -> str:
        return "?"


CUSTOMER_CARE = _t(
    "关怀客户：{where}",
    "Care visit: {where}",
    "{where}有一位客户已等候 {wait_min:.0f} 分钟，超过 {limit_min:g} 分钟。请引导员前往关怀。",
    "A customer in {where} has waited {wait_min:.0f} min, past the {limit_min:g}-min limit. "
    "Guide: please visit them.",
)
"""The care task of one customer (subject ``visit:<camera>:<visit>``); a zone's task (a camera
without visits) says how many are past the limit instead."""


def render(alert: Alert, lang: Lang, event: UpdateEvent = UpdateEvent.FIRED) -> tuple[str, str]:
    """(title, body) of ``alert`` in ``lang``, prefixed for the lifecycle ``event``."""
    template = EVENT_TEMPLATES.get((alert.kind, event)) or TEMPLATES.get(alert.kind)
    if alert.kind == AlertKind.LONG_WAIT and alert.subject.startswith("visit:"):
        template = CUSTOMER_CARE
    params = _Params(alert, lang)
    if template is None:
        title, body = alert.kind, f"{alert.kind} {alert.subject}"
    else:
        try:
            title = template.title[lang].format_map(params)
            body = template.body[lang].format_map(params)
        except (ValueError, TypeError, KeyError) as exc:
            title, body = alert.kind, f"{alert.kind} {alert.subject} ({exc})"
    prefix = _EVENT_PREFIX[event][lang]
    if "since" in alert.params:
        body += _SINCE[lang].format(since=alert.params["since"])
    if event == UpdateEvent.ACKNOWLEDGED and alert.acked_by:
        extra = {"zh-CN": f"（{alert.acked_by} 确认", "en": f" (by {alert.acked_by}"}[lang]
        if alert.ack_comment:
            extra += {"zh-CN": "：", "en": ": "}[lang] + alert.ack_comment
        body += extra + {"zh-CN": "）", "en": ")"}[lang]
    return prefix + title, body


def render_both(alert: Alert, event: UpdateEvent = UpdateEvent.FIRED) -> dict[Lang, tuple[str, str]]:
    """Title and body in both languages."""
    return {lang: render(alert, lang, event) for lang in LANGS}


def mute_text(reason: MuteReason, lang: Lang) -> str:
    """Why an alert or update is held back, in ``lang``."""
    text = MUTE_TEXTS.get(reason.key)
    if text is None:
        return str(reason)
    return text[lang].format(source=reason.source)
