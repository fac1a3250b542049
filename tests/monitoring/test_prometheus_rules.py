"""The shipped Prometheus alert rules and Grafana dashboard: they parse, have the expected alerts, use only
metrics statops exports, and pass `promtool check rules` and the rules' unit tests where promtool is
installed (`apt-get install prometheus`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "statops-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "statops-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "statops-dashboard.json"
SERVING = ROOT / "src" / "statops" / "serving"
EXPECTED = {
    "StatopsPredictionLogBehind", "StatopsPredictionLogBacklog", "StatopsPredictionLogFailing",
    "StatopsRequestsRefused", "StatopsConnectionsNearCap", "StatopsSlowOrStuckClients", "StatopsServerErrors",
    "StatopsModelAlert", "StatopsModelSignalWarning", "StatopsMonitoringStale", "StatopsMonitoringRunFailed",
    "StatopsModelNotMonitored",
}
NO_PROMTOOL = "promtool is not installed (apt-get install prometheus): the rules were only parsed as YAML"


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _exported_names() -> set[str]:
    """The metric names the server's code declares (counters gain _total, histograms _bucket)."""
    source = "\n".join(p.read_text() for p in SERVING.glob("*.py"))
    return set(re.findall(r'"(statops_[a-z_]+)"', source))


def _used(expr: str) -> set[str]:
    names = set(re.findall(r"\bstatops_[a-z_]+", expr))
    return {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in names}


def test_the_rules_have_the_expected_alerts_with_severity_and_summary() -> None:
    rules = _rules()
    assert {rule["alert"] for rule in rules} == EXPECTED
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_rules_and_the_dashboard_use_only_metrics_statops_exports() -> None:
    exported = _exported_names()
    assert {"statops_monitor_signal", "statops_monitor_alert", "statops_prediction_log_backlog_rows"} <= exported
    for rule in _rules():
        assert _used(rule["expr"]) and _used(rule["expr"]) <= exported, rule["alert"]
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 15
    for query in queries:
        assert _used(query) <= exported, query
    assert "statops_monitor_signal_status" in " ".join(queries)


@pytest.mark.skipif(shutil.which("promtool") is None, reason=NO_PROMTOOL)
def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    checked = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(EXPECTED)} rules found" in checked.stdout
    tested = subprocess.run(["promtool", "test", "rules", RULE_TESTS.name], capture_output=True, text=True,
                            timeout=60, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
