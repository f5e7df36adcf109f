"""The operations files under deploy/: Prometheus alert rules (promtool checks them and runs
their unit tests) and the Grafana dashboard, both built only on metric families /metrics
really exposes."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ops import monitoring
from ops.metrics import exposition
from pipeline import captcha_pool
from project.connections import redis_client

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cedula-verify.json"
METRIC_NAME = re.compile(r"\bcedula_[a-z0-9_]+")
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: .ci/run installs it (bin/ensure-promtool)")
        pytest.skip("promtool not installed (bin/ensure-promtool installs it)")
    return found


def test_the_alert_rules_pass_promtool_check_rules():
    run = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 10 rules found" in run.stdout


def test_the_alert_rules_fire_as_their_unit_tests_expect():
    run = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=RULE_TESTS.parent,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_rules_mirror_each_of_the_products_alerts():
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {
        "CedulaReferralsStuck",
        "CedulaLookupFailureRateHigh",
        "CedulaCircuitOpen",
        "CedulaBeatSilent",
        "CedulaQueueWithoutConsumer",
        "CedulaCaptchaWaste",
        "CedulaCaptchaLowBalance",
    } <= names
    assert all(rule["annotations"]["summary"] for rule in rules)


@pytest.mark.django_db
def test_rules_and_dashboard_use_only_families_that_metrics_exposes(redis):
    # Two families appear once their source has a value: a heartbeat, the solver's balance.
    monitoring.record_heartbeat(time.time())
    redis_client().set(captcha_pool.BALANCE_KEY, "12.5")
    exposed = {f.name for f in text_string_to_metric_families(exposition().decode())}

    def family(name: str) -> str:
        for suffix in SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in exposed:
                return name[: -len(suffix)]
        return name

    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [rule["expr"] for rule in rules]
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {family(name) for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert used - exposed == set()
    assert len(used) >= 15  # the dashboard shows every family
    assert {p["gridPos"]["x"] + p["gridPos"]["w"] for p in dashboard["panels"]} <= set(range(1, 25))
