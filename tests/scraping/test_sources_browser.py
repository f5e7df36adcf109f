"""Both census pages through a real Chromium against the simulator: every consultacenso page
variant (submit control, key case, numeric mesa, the January table) and every wsp answer; the
drift canary's look at a changed page spends no consulta and no captcha."""

import pytest

from scraping.errors import (
    BotDetectedError,
    CaptchaError,
    NetworkError,
    PageChangedError,
)
from scraping.results import CensusStatus
from simulator import KNOWN_CEDULAS, expected_status

pytestmark = pytest.mark.browser

# Incidental details of the page the client must not depend on (SimulatorSettings).
VARIANTS = {
    "submit-button-in-form": {},
    "script-button-outside-form": {"submit_control": "script_button"},
    "no-recognisable-control": {"submit_control": "div"},
    "upper-keys": {"key_case": "upper"},
    "lower-keys-numeric-mesa": {"key_case": "lower", "mesa_as_number": True},
    "january-table": {"answer_shape": "table", "submit_control": "script_button"},
}
# One of each kind of answer: found (twice: upper/lower keys of its own), novelty, not found.
SAMPLE = ("found", "found_lowercase", "cancelled_deceased", "not_in_census", "pending_review")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_consultacenso_variant_read_right(census_client, simulator, variant):
    simulator.control.update_settings(**VARIANTS[variant])
    for state in SAMPLE:
        cedula = KNOWN_CEDULAS[state]
        result = census_client.lookup(cedula, source="consultacenso")
        assert result.source == "consultacenso"
        assert result.status.value == expected_status(cedula), (variant, state)
        if result.status is CensusStatus.FOUND:
            assert result.departamento and result.municipio and result.puesto
            assert result.mesa.isdigit()  # text, whatever type the page sent
            if VARIANTS[variant].get("answer_shape") != "table":
                assert result.fecha_ingreso and result.coddivipol and result.map_url
        else:
            assert result.message
    log = simulator.control.log()
    assert [e["cedula"] for e in log] == [KNOWN_CEDULAS[s] for s in SAMPLE]  # one consulta each
    assert simulator.control.state()["counters"].get("token_rejections", 0) == 0


@pytest.mark.parametrize("state", sorted(KNOWN_CEDULAS))
def test_wsp_each_answer_kind(census_client, simulator, state):
    cedula = KNOWN_CEDULAS[state]
    result = census_client.lookup(cedula, source="wsp")
    assert result.source == "wsp"
    assert result.status == CensusStatus(expected_status(cedula))
    if result.is_found:
        assert result.departamento and result.municipio and result.puesto and result.mesa
    else:
        assert result.message
    assert (
        simulator.control.log()[-1] | {"source": "wsp", "cedula": cedula}
        == (simulator.control.log()[-1])
    )


def test_wsp_reload_loads_the_page_again(census_client, simulator):
    simulator.control.set_fault("wsp_reload", count=1)
    result = census_client.lookup(KNOWN_CEDULAS["found"], source="wsp")
    assert result.is_found
    counters = simulator.control.state()["counters"]
    # A second load (the page may reload itself first) and a second consulta: no more.
    assert counters["wsp_consultas"] == 2 and 2 <= counters["wsp_page_loads"] <= 3


def test_wsp_reload_without_end_is_a_passing_failure(census_client, simulator):
    simulator.control.set_fault("wsp_reload")
    with pytest.raises(NetworkError):
        census_client.lookup(KNOWN_CEDULAS["found"], source="wsp")
    assert simulator.control.state()["counters"]["wsp_consultas"] == 3  # bounded reloads


def test_wsp_refused_token_is_renewed_then_bounded(census_client, simulator):
    simulator.control.set_fault("captcha_reject", count=1, source="wsp")
    assert census_client.lookup(KNOWN_CEDULAS["found"], source="wsp").is_found
    simulator.control.set_fault("captcha_reject", source="wsp")
    with pytest.raises(CaptchaError):
        census_client.lookup(KNOWN_CEDULAS["found"], source="wsp")


def test_wsp_upstream_timeout_is_retryable(census_client, simulator):
    simulator.control.set_fault("upstream_timeout", count=1)
    with pytest.raises(NetworkError) as info:
        census_client.lookup(KNOWN_CEDULAS["found"], source="wsp")
    assert "Curl error" in str(info.value)
    assert census_client.lookup(KNOWN_CEDULAS["found"], source="wsp").is_found


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"name": "bot_block", "source": "wsp"}, BotDetectedError),
        ({"name": "markup_changed", "source": "wsp"}, PageChangedError),
        ({"name": "http_503", "source": "wsp"}, NetworkError),
        ({"name": "json_changed", "source": "wsp"}, PageChangedError),
    ],
    ids=lambda v: v["name"] if isinstance(v, dict) else v.__name__,
)
def test_wsp_faults_and_the_other_source_unharmed(census_client, simulator, fault, error):
    simulator.control.set_fault(**fault)
    with pytest.raises(error):
        census_client.lookup(KNOWN_CEDULAS["found"], source="wsp")
    assert census_client.lookup(KNOWN_CEDULAS["found"], source="consultacenso").is_found


def test_error_keeps_what_the_site_said(census_client, simulator):
    simulator.control.set_fault("json_changed")
    with pytest.raises(PageChangedError) as info:
        census_client.lookup(KNOWN_CEDULAS["found"], source="consultacenso")
    assert '"status": "success"' in info.value.body


@pytest.mark.parametrize("source", ["consultacenso", "wsp"])
def test_canary_catches_a_changed_page_without_consulta_or_solve(census_client, simulator, source):
    healthy = census_client.probe(source)
    assert healthy.state == "ok", healthy.problems
    assert healthy.site_key and healthy.submit == "control"
    simulator.control.set_fault("markup_changed", source=source)
    changed = census_client.probe(source)
    assert changed.drifted and changed.problems
    assert "<html" in changed.html.lower() and len(changed.html) <= 20_000
    simulator.control.set_fault("bot_block", source=source)
    assert census_client.probe(source).state == "blocked"
    counters = simulator.control.state()["counters"]
    assert counters.get("consultas", 0) == 0
    assert counters.get("solver_submits", 0) == 0 and counters.get("widget_tokens", 0) == 0


def test_canary_sees_a_page_without_a_submit_control_as_usable(census_client, simulator):
    simulator.control.update_settings(submit_control="div")
    probe = census_client.probe("consultacenso")
    assert probe.state == "ok" and probe.submit == "page request"
