"""Parser unit tests on answers captured from the simulator (tests/scraping/fixtures/)."""

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from scraping.errors import (
    BotDetectedError,
    CaptchaError,
    CaptchaTokenRejected,
    PageChangedError,
    RateLimitedError,
    RequestRefusedError,
)
from scraping.parser import (
    detect_block,
    parse_consulta,
    parse_rendered_result,
    parse_retry_after,
    raise_if_blocked,
    status_from_message,
)
from scraping.results import CensusResult, CensusStatus

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("fixture", "status"),
    [
        ("consulta_found.json", CensusStatus.FOUND),
        ("consulta_found_lowercase.json", CensusStatus.FOUND),
        ("consulta_not_in_census.json", CensusStatus.NOT_IN_CENSUS),
        ("consulta_not_in_census_election.json", CensusStatus.NOT_IN_CENSUS),
        ("consulta_cancelled_deceased.json", CensusStatus.CANCELLED_DECEASED),
        ("consulta_cancelled_other.json", CensusStatus.CANCELLED_OTHER),
        ("consulta_pending_review.json", CensusStatus.PENDING_REVIEW),
        ("consulta_deceased_not_found_shape.json", CensusStatus.CANCELLED_DECEASED),
    ],
)
def test_each_census_state(fixture, status):
    payload = load(fixture)
    result = parse_consulta(payload, "123456")
    assert result.status is status
    assert result.raw == payload
    if status is not CensusStatus.FOUND:
        assert result.message  # the site's text is kept for staff


def test_found_upper_case_keys_read():
    result = parse_consulta(load("consulta_found.json"), "1020304050")
    assert result.departamento == "SANTANDER"
    assert result.municipio == "BUCARAMANGA"
    assert result.puesto == "COLISEO CUBIERTO MUNICIPAL"
    assert result.direccion == "CL 50 # 52-10"
    assert result.mesa == "27"
    assert result.fecha_ingreso == "2012-06-05"
    assert result.coddivipol == "270011313"
    assert result.latitude == pytest.approx(7.1213)
    assert result.longitude == pytest.approx(-73.12495)
    assert result.map_url.startswith("https://maps.google.com/")


def test_found_lower_case_keys_and_school_as_address():
    result = parse_consulta(load("consulta_found_lowercase.json"), "52123456")
    assert result.municipio and result.puesto
    assert result.direccion == result.puesto == "IE LICEO DEPARTAMENTAL"


def test_novelty_keeps_message_and_description():
    result = parse_consulta(load("consulta_cancelled_deceased.json"), "1000000003")
    assert "Cancelada por Muerte" in result.message
    assert "Resolución" in result.message


def test_token_rejection_is_a_captcha_signal():
    with pytest.raises(CaptchaTokenRejected) as info:
        parse_consulta(load("consulta_token_rejected.json"), "123456")
    assert isinstance(info.value, CaptchaError)  # escapes as the retryable class


def test_other_refusal():
    with pytest.raises(RequestRefusedError):
        parse_consulta(load("consulta_refused.json"), "123456")


def test_throttle_text_is_rate_limit():
    with pytest.raises(RateLimitedError):
        parse_consulta({"ok": False, "error": "Demasiadas consultas, intente más tarde"}, "123")


@pytest.mark.parametrize(
    "payload",
    [
        load("consulta_json_changed.json"),
        [],
        "texto",
        {"ok": True},
        {"ok": True, "encontrado": True},
        {"ok": True, "encontrado": True, "data": {"otro": 1}},
    ],
)
def test_unknown_shapes_are_page_changed(payload):
    with pytest.raises(PageChangedError):
        parse_consulta(payload, "123456")


def test_string_booleans_and_mixed_case_top_level():
    payload = {"OK": "true", "Encontrado": "false", "Mensaje": "No se encuentra en el censo"}
    assert parse_consulta(payload, "123").status is CensusStatus.NOT_IN_CENSUS


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("El documento no se encuentra en el censo electoral.", CensusStatus.NOT_IN_CENSUS),
        ("no se encuentra en el censo para esta elección", CensusStatus.NOT_IN_CENSUS),
        ("Cancelada por Muerte", CensusStatus.CANCELLED_DECEASED),
        ("CANCELADA POR MUERTE", CensusStatus.CANCELLED_DECEASED),
        ("Baja por Pérdida o Suspensión de los Derechos Políticos", CensusStatus.CANCELLED_OTHER),
        ("Pendiente por Solicitud en proceso", CensusStatus.PENDING_REVIEW),
        ("algo que nadie previó", CensusStatus.NOT_IN_CENSUS),  # falls back to the default
    ],
)
def test_message_word_matching(text, status):
    assert status_from_message(text, default=CensusStatus.NOT_IN_CENSUS) is status


def test_block_pages_detected_from_bodies():
    assert detect_block((FIXTURES / "block_page.html").read_text()) == "rejected"
    assert detect_block((FIXTURES / "challenge.html").read_text()) == "challenge"
    assert detect_block("<noscript>Se requiere JavaScript</noscript>") == "javascript_required"
    # F5 ASM's Spanish page (HTTP 500 to a bare Playwright), accents or not.
    assert detect_block("<p>Se presentó un evento de seguridad.</p>") == "rejected"
    assert detect_block("SE PRESENTO UN EVENTO DE SEGURIDAD") == "rejected"
    assert detect_block(json.dumps(load("consulta_found.json"))) is None
    with pytest.raises(BotDetectedError):
        raise_if_blocked((FIXTURES / "block_page.html").read_text())


def test_rendered_fallback():
    result = parse_rendered_result("Cancelada por Muerte\nResolución 1 de 2020", "123")
    assert result.status is CensusStatus.CANCELLED_DECEASED
    with pytest.raises(PageChangedError):
        parse_rendered_result("Departamento: X\nMunicipio: Y", "123")


def test_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31


def test_result_round_trips_through_json():
    result = parse_consulta(load("consulta_found.json"), "1020304050")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "found"
    assert CensusResult.from_dict(data) == result
