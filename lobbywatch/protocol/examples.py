"""One valid example of every message type.

They document the protocol (``docs/protocol.md`` shows them), seed the schema tests and give
implementers in other languages something to compare their output with.
"""

from __future__ import annotations

from typing import Any

_ENVELOPE: dict[str, Any] = {
    "v": 1,
    "id": "6f1c2d7e9a4b4c1e8f0a1b2c3d4e5f60",
    "site": "sh-pudong-01",
    "epoch": 0,
    "ts": "2026-11-23T01:30:00Z",
}


def _msg(source: str, seq: int, **fields: Any) -> dict[str, Any]:
    return {**_ENVELOPE, "source": source, "seq": seq, **fields}


EXAMPLES: dict[str, dict[str, Any]] = {
    "zone_state": _msg(
        "cam-counters",
        1042,
        type="zone_state",
        zone="queue-main",
        kind="queue",
        occupancy=4.6,
        count=5,
        queue_length=5,
        longest_wait_s=412.0,
        longest_wait_at=[0.41, 0.77],
        expected_wait_s=540.0,
        waits_over_limit=0,
        loitering=0,
        entered_total=118,
        exited_total=113,
        long_waits=[],
    ),
    "camera_status": _msg(
        "cam-counters",
        1,
        type="camera_status",
        state="online",
        stream_ok=True,
        fps=9.8,
        frames_read=5230,
        frames_processed=4980,
        frames_dropped=250,
    ),
    "wait_record": _msg(
        "cam-counters",
        1043,
        type="wait_record",
        zone="queue-main",
        kind="wait",
        zone_kind="queue",
        started="2026-11-23T01:21:10Z",
        ended="2026-11-23T01:29:40Z",
        duration_s=510.0,
        outcome="exited",
    ),
    "visit": _msg(
        "cam-counters",
        1044,
        type="visit",
        visit="3f9a0c1b7e2d",
        arrived="2026-11-23T01:20:05Z",
        left="2026-11-23T01:34:50Z",
        zones=["entrance", "queue-main", "counter-1"],
        wait_zone="queue-main",
        wait_started="2026-11-23T01:21:10Z",
        wait_s=510.0,
        service_zone="counter-1",
        service_started="2026-11-23T01:29:40Z",
        service_s=290.0,
        outcome="served",
        path=[
            {"at": "2026-11-23T01:20:05Z", "image": [0.08, 0.62], "floor": [6.8, 4.9]},
            {"at": "2026-11-23T01:34:50Z", "image": [0.71, 0.2], "floor": [13.1, 1.6]},
        ],
    ),
    "device_status": _msg(
        "kiosk-topup-1",
        0,
        type="device_status",
        state="online",
        out_of_service=False,
        faults=[],
        heartbeat_s=30,
        info={
            "kind": "top_up_kiosk",
            "vendor": "huaxin-maint",
            "model": "HX-TK300",
            "firmware": "4.2.1",
            "capabilities": ["top_up", "bill_payment"],
        },
    ),
    "device_heartbeat": _msg(
        "kiosk-topup-1",
        17,
        type="device_heartbeat",
        uptime_s=510.0,
        interval_s=30,
        vitals={"cpu_pct": 12.5, "mem_pct": 41.0, "disk_free_pct": 63.0},
    ),
    "device_event": _msg(
        "kiosk-topup-1",
        18,
        type="device_event",
        event="fault_raised",
        code="PRN_PAPER_OUT",
        severity="warning",
        unusable=False,
        detail="receipt printer reports paper end",
    ),
    "counter_state": _msg(
        "term-c1",
        220,
        type="counter_state",
        counter="c1",
        state="serving",
        since="2026-11-23T01:28:05Z",
    ),
    "alert": _msg(
        "server",
        77,
        type="alert",
        alert_id="a7c1e0b2d9f84e3a",
        kind="long_wait",
        severity="warning",
        state="firing",
        zone="queue-main",
        title={"zh-CN": "顾客等候超过10分钟", "en": "Customer waiting over 10 minutes"},
        body={
            "zh-CN": "排队区有顾客已等候11分钟，请引导员前往关怀。",
            "en": "A customer in the counter queue has waited 11 minutes; guide, please visit.",
        },
    ),
    "device_command": _msg(
        "server",
        78,
        type="device_command",
        device="kiosk-topup-1",
        command="out_of_service_on",
        detail="vendor maintenance window",
    ),
    "counter_state_set": _msg(
        "server-counters",
        12,
        type="counter_state_set",
        counter="c2",
        state="learning",
        since="2026-11-23T01:29:40Z",
    ),
    "receipt": _msg(
        "gw-1",
        3120,
        type="receipt",
        stream_source="kiosk-topup-1",
        stream_epoch=0,
        committed_seq=18,
        resend=False,
    ),
    "ticket_event": _msg(
        "qms-main",
        511,
        type="ticket_event",
        event="service_started",
        ticket="A023",
        business="new_subscription",
        issued_at="2026-11-23T01:18:40Z",
        counter="c1",
    ),
    "wait_board": _msg(
        "server",
        79,
        type="wait_board",
        waits=[
            {
                "business": "new_subscription",
                "name_en": "New subscription",
                "name_zh-CN": "新装入网",
                "ahead": 3,
                "expected_wait_s": 720.0,
            },
            {
                "business": "sim_replacement",
                "name_en": "SIM replacement",
                "name_zh-CN": "补换卡",
                "ahead": 1,
                "expected_wait_s": 90.0,
            },
        ],
    ),
}
