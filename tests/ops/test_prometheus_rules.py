"""The shipped Prometheus files: the alerting rules pass ``promtool check rules`` and their unit
tests (``promtool test rules``), every alert has a firing and a quiet case and both languages'
annotations, and the example scrape configuration passes ``promtool check config``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lobbywatch.services import find_binary

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "lobbywatch-alerts.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yaml"))
ANNOTATIONS = {"summary", "description", "summary_zh", "description_zh"}


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    """Run ``promtool`` with ``args``; fail with what it said unless it succeeds."""
    done = subprocess.run(
        [find_binary("promtool", "prometheus"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    return said


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.mark.real
def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    assert "SUCCESS" in promtool("check", "rules", str(RULES))
    assert RULE_TESTS
    said = promtool("test", "rules", *(str(p) for p in RULE_TESTS), cwd=RULE_TESTS[0].parent)
    assert "FAILED" not in said


@pytest.mark.real
def test_example_scrape_configuration_passes_promtool() -> None:
    said = promtool("check", "config", "prometheus.yml")
    assert "WARNING" not in said, said
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"lobbywatch-server", "lobbywatch-gateway", "lobbywatch-device", "lobbywatch-vision"}
    assert config["rule_files"] == [RULES.name]


def test_every_alert_is_bilingual_has_a_severity_and_waits_before_firing_but_one() -> None:
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert set(rule["annotations"]) == ANNOTATIONS, rule["alert"]
        for key in ("summary_zh", "description_zh"):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in rule["annotations"][key]), (rule["alert"], key)
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert "for" in rule, rule["alert"]
    # Lines lost for good are worth a page at once; everything else must last first.
    assert [r["alert"] for r in rules if r["for"] in ("0m", "0s")] == ["LobbyWatchInfluxLinesDropped"]


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
                for alert in check.get("exp_alerts") or []:
                    assert set(alert["exp_annotations"]) == ANNOTATIONS, check["alertname"]
    names = {r["alert"] for r in alert_rules()}
    assert firing == names, names ^ firing
    assert quiet == names, names ^ quiet
