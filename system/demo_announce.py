"""What the running demo tells its user: ``demo.json`` (base URL, timeline, page URLs, every
token) and the printed lines, each in English and Chinese (:func:`say`). ``docs/demo.md``,
"What you see".
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from system.demo_files import DemoHall


def say(en: str, zh: str) -> None:
    """Print one line in English and in Chinese."""
    print(f"{en}\n  {zh}", flush=True)


def _show(en: str, zh: str, url: str) -> None:
    say(en, zh)
    print(f"    {url}", flush=True)


def demo_info(
    base: str, halls: list[DemoHall], tokens: dict[str, str], start: datetime, speed: float
) -> dict[str, Any]:
    """What ``demo.json`` holds: the pages of each hall (wall, guide), the staff page, the
    visits summary of the simulated day (an API call with the manager token) and the tokens."""
    day = f"start={quote(start.isoformat())}&end={quote((start + timedelta(days=1)).isoformat())}"
    return {
        "base_url": base,
        "timeline_start": start.isoformat(),
        "speed": speed,
        "walls": {h.site: f"{base}/wall/{h.site}#token={h.display_token}" for h in halls},
        "guides": {h.site: f"{base}/guide/{h.site}#token={h.guide_token}" for h in halls},
        "visits": {h.site: f"{base}/api/v1/sites/{h.site}/visits/summary?{day}" for h in halls},
        "staff": f"{base}/staff#token={tokens['manager']}",
        "api_docs": f"{base}/docs",
        "tokens": {
            **tokens,
            **{f"display-{h.site}": h.display_token for h in halls},
            **{f"guide-{h.site}": h.guide_token for h in halls},
        },
    }


def announce(info: dict[str, Any], run_dir: Path, tz: ZoneInfo) -> None:
    """Write ``run_dir/demo.json`` and print the pages, the timeline and where the logs are."""
    (run_dir / "demo.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    print("", flush=True)
    say("LobbyWatch demo is running.", "LobbyWatch 演示已运行。")
    for site, url in info["walls"].items():
        _show(f"  Wall page ({site}):", f"  大屏页面（{site}）：", url)
    for site, url in info["guides"].items():
        _show(f"  Guide page, care tasks ({site}):", f"  引导员关怀页（{site}）：", url)
    _show("  Staff page (duty manager):", "  值班经理页面：", info["staff"])
    say(f"  API docs: {info['api_docs']}", f"  接口文档：{info['api_docs']}")
    say(
        "  Visits of the day (served within the wait limit, wait percentiles; manager token, "
        "e.g. from /docs):",
        "  当日到访统计（限时内办理占比、等待分位数；使用值班经理令牌，可在 /docs 中调用）：",
    )
    for url in info["visits"].values():
        print(f"    {url}", flush=True)
    speed = float(info["speed"])
    start = datetime.fromisoformat(info["timeline_start"])
    local = start.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    say(
        f"  Simulated time starts at {local} and runs {speed:g}x (one simulated hour every "
        f"{60 / speed:.1f} real minutes); the busy morning peaks after about 30-55 simulated "
        "minutes. Most customers take a queue ticket (the wall's waits per business type), the "
        "others walk in; in sim-two-views two cameras share the counter queue and a customer "
        "seen by both is one care task.",
        f"  模拟时间从 {local} 开始，{speed:g} 倍速（每 {60 / speed:.1f} 分钟真实时间为一小时模拟时间）；"
        "约 30–55 模拟分钟后进入高峰。多数客户取号（大屏按业务显示等候），其余直接排队；"
        "sim-two-views 厅两路摄像头共享排队区，两路都看到的客户只有一条关怀任务。",
    )
    say(
        "  No Grafana needed: the built-in wall, guide and staff pages show everything live "
        "(Grafana dashboards are optional, see docs/demo.md).",
        "  无需 Grafana：内置大屏、引导员和员工页面实时显示全部信息（Grafana 仪表板可选，见 docs/demo.md）。",
    )
    say(f"  Logs and configuration: {run_dir}", f"  日志和配置：{run_dir}")
    say("Press Ctrl-C to stop everything.", "按 Ctrl-C 停止全部进程。")
