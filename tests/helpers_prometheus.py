"""A real Prometheus (Debian package ``prometheus``) for the tests, and its ``prometheus`` fixture.

It scrapes every second the targets a test hands it (:meth:`Prometheus.scrape`: file-based
discovery, one file per job, reread at once), and answers PromQL through its HTTP API
(:meth:`Prometheus.query`). Registered in tests/conftest.py (REAL_FIXTURES).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lobbywatch.services import ManagedProcess, find_binary

SCRAPE_INTERVAL = "1s"
JOBS = ("lobbywatch-server", "lobbywatch-gateway", "lobbywatch-device", "lobbywatch-vision")
"""The jobs of deploy/prometheus/prometheus.yml, each with its own target file here."""


class Prometheus(ManagedProcess):
    """Prometheus on a free loopback port, its data in its work directory."""

    name = "prometheus"

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("prometheus", "prometheus")
        self.config_path = self.workdir / "prometheus.yml"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _targets_file(self, job: str) -> Path:
        return self.workdir / f"{job}.json"

    def prepare(self) -> None:
        jobs = [
            {"job_name": job, "file_sd_configs": [{"files": [str(self._targets_file(job))]}]} for job in JOBS
        ]
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
            "scrape_configs": jobs,
        }
        self.config_path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        for job in JOBS:
            self._targets_file(job).write_text("[]", encoding="utf-8")

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--log.level=warn",
        ]

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
            return int(resp.status) == 200

    def scrape(self, job: str, *addresses: str) -> None:
        """Scrape ``addresses`` (``host:port``) as ``job`` from now on (replacing its targets)."""
        path = self._targets_file(job)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": list(addresses)}]), encoding="utf-8")
        tmp.replace(path)  # atomic: Prometheus never reads half a file

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query now; fails with Prometheus' error."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def series(self, match: str) -> list[dict[str, str]]:
        """The label sets of the series ``match`` selects (what Grafana's ``label_values`` asks)."""
        url = f"{self.url}/api/v1/series?" + urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(url, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "success", answer
        found: list[dict[str, str]] = answer["data"]
        return found


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """A Prometheus of this test alone, scraping nothing until the test calls ``scrape``."""
    with Prometheus(tmp_path / "prometheus") as server:
        yield server
