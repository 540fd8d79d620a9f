"""Upload the data source and dashboards to a Grafana through its HTTP API, idempotently.

Everything is looked up by uid first and written only when it differs, so a second push
with the same inputs makes no create or update call at all. Uses ``grafana-client``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dashboards.builder import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID, Json

IGNORED_DASHBOARD_KEYS = frozenset({"id", "version"})
"""Keys Grafana sets itself; they do not make a stored dashboard different from ours."""


class PushError(RuntimeError):
    """Grafana refused a call or could not be reached; the message says which and why."""


class InfluxSource(BaseModel):
    """How Grafana reaches InfluxDB (InfluxQL over the v1 API; 2.x through its v1 compatibility)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        default="http://localhost:8086",
        pattern=r"^https?://",
        description="InfluxDB base URL as Grafana's server sees it.",
    )
    database: str = Field(default="lobbywatch", min_length=1, max_length=64, description="Database.")
    user: str = Field(default="", max_length=128, description="v1 user (2.x: any name, with a token).")
    password: str = Field(
        default="", max_length=4096, description="v1 password, or on InfluxDB 2.x/3.x an API token."
    )
    time_interval: str = Field(
        default="10s", pattern=r"^\d+(ms|s|m|h)$", description="Minimum $__interval (scrape step)."
    )


def datasource_model(source: InfluxSource) -> Json:
    """The Grafana data source object for ``POST /api/datasources``."""
    model: Json = {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": source.url,
        "user": source.user,
        "basicAuth": False,
        "isDefault": False,
        "jsonData": {
            "dbName": source.database,
            "httpMode": "POST",
            "timeInterval": source.time_interval,
            "version": "InfluxQL",
        },
    }
    if source.password:
        model["secureJsonData"] = {"password": source.password}
    return model


def folder_uid(title: str) -> str:
    """A stable uid for a folder title: ``LobbyWatch`` -> ``lobbywatch``; non-ASCII titles hash."""
    slug = re.sub(r"[^a-z0-9-]+", "-", title.lower()).strip("-")
    if not slug:
        import hashlib

        slug = "f-" + hashlib.sha256(title.encode()).hexdigest()[:12]
    return slug[:40]


@dataclass
class PushReport:
    """What a push did: one line per object, and the number of writes it made."""

    lines: list[str] = field(default_factory=list)
    writes: int = 0

    def note(self, what: str, wrote: bool) -> None:
        self.lines.append(what)
        if wrote:
            self.writes += 1


def _status(exc: Exception) -> int | None:
    code = getattr(exc, "status_code", None)
    return int(code) if isinstance(code, int) else None


def _get_or_none(call: Any, *args: Any) -> Json | None:
    """Call a grafana-client getter; ``None`` on 404, PushError on anything else."""
    from grafana_client.client import GrafanaException

    try:
        result: Json = call(*args)
    except GrafanaException as exc:
        if _status(exc) == 404:
            return None
        raise PushError(_explain(exc)) from exc
    return result


def _explain(exc: Exception) -> str:
    code = _status(exc)
    if code in (401, 403):
        return (
            f"Grafana 拒绝了令牌 refused the token (HTTP {code}): check --token and its role (Editor/Admin)."
        )
    return f"Grafana 调用失败 call failed: {exc}"


def _strip(dashboard: Json) -> Json:
    return {k: v for k, v in dashboard.items() if k not in IGNORED_DASHBOARD_KEYS}


def _datasource_differs(current: Json, wanted: Json) -> bool:
    for key in ("name", "type", "access", "url", "user", "basicAuth"):
        if current.get(key) != wanted.get(key):
            return True
    have = current.get("jsonData") or {}
    if any(have.get(k) != v for k, v in wanted["jsonData"].items()):
        return True
    secure = current.get("secureJsonFields") or {}
    return "secureJsonData" in wanted and not secure.get("password")


def push(
    api: Any,
    dashboards: list[Json],
    *,
    folder: str = "LobbyWatch",
    source: InfluxSource | None = None,
) -> PushReport:
    """Make Grafana hold the folder, the data source and the dashboards; write only differences.

    ``api`` is a ``grafana_client.GrafanaApi``. With ``source`` None the data source is left alone.
    """
    from grafana_client.client import GrafanaException

    report = PushReport()
    uid = folder_uid(folder)
    try:
        existing = _get_or_none(api.folder.get_folder, uid)
        if existing is None:
            api.folder.create_folder(folder, uid=uid)
            report.note(f"folder {uid}: created", True)
        elif existing.get("title") != folder:
            api.folder.update_folder(uid, title=folder, overwrite=True)
            report.note(f"folder {uid}: renamed to {folder!r}", True)
        else:
            report.note(f"folder {uid}: unchanged", False)

        if source is not None:
            wanted = datasource_model(source)
            current = _get_or_none(api.datasource.get_datasource_by_uid, DATASOURCE_UID)
            if current is None:
                api.datasource.create_datasource(wanted)
                report.note(f"datasource {DATASOURCE_UID}: created", True)
            elif _datasource_differs(current, wanted):
                api.datasource.update_datasource_by_uid(DATASOURCE_UID, wanted)
                report.note(f"datasource {DATASOURCE_UID}: updated", True)
            else:
                report.note(f"datasource {DATASOURCE_UID}: unchanged", False)

        for dashboard in dashboards:
            duid = dashboard["uid"]
            stored = _get_or_none(api.dashboard.get_dashboard, duid)
            same = (
                stored is not None
                and _strip(stored.get("dashboard", {})) == _strip(dashboard)
                and (stored.get("meta") or {}).get("folderUid") == uid
            )
            if same:
                report.note(f"dashboard {duid}: unchanged", False)
                continue
            body = {
                "dashboard": {**_strip(dashboard), "id": None},
                "folderUid": uid,
                "overwrite": True,
                "message": "lobbywatch dashboards push",
            }
            api.dashboard.update_dashboard(body)
            report.note(f"dashboard {duid}: {'created' if stored is None else 'updated'}", True)
    except GrafanaException as exc:
        raise PushError(_explain(exc)) from exc
    except OSError as exc:
        raise PushError(f"无法连接 Grafana cannot be reached: {exc}") from exc
    return report


def connect(url: str, token: str, timeout_s: float = 10.0) -> Any:
    """A ``GrafanaApi`` for ``url`` authenticating with a service-account token."""
    from grafana_client.api import GrafanaApi

    return GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
