"""The second source and the hardened reading, without a browser: wsp answers, HTML tables,
numeric mesa, the sources setting and each source's own rate/circuit key."""

import pytest

from scraping.config import ScrapingConfig
from scraping.errors import (
    BotDetectedError,
    CaptchaTokenRejected,
    NetworkError,
    PageChangedError,
    PageReloadNeeded,
    RequestRefusedError,
)
from scraping.parser import parse_census_table, parse_consulta, parse_consulta_body, parse_wsp
from scraping.results import CensusStatus
from simulator import census

# The real capture of a found answer in the shared README (number masked).
LIVE_WSP_FOUND = (
    "<div class='table-responsive'><table class='display responsive table table-bordered "
    "table-striped' id='consulta'><thead><tr><th class='text-center'>NUIP</th><th "
    "class='text-center'>DEPARTAMENTO</th><th class='text-center'>MUNICIPIO</th><th "
    "class='text-center'>PUESTO</th><th class='text-center'>DIRECCIÓN</th><th "
    "class='text-center'>MESA</th></tr></thead><tbody><tr><td data-th='NUIP'>1100000000</td>"
    "<td data-th='DEPARTAMENTO'>SUCRE</td><td data-th='MUNICIPIO'>SINCELEJO</td><td "
    "data-th='PUESTO'>IE SAN JOSE C I P</td><td data-th='DIRECCIÓN'>CL 22 No. 10A-380</td>"
    "<td data-th='MESA' class='text-center'><b>13</b></td></tr></tbody></table></p></div><h3>"
    "<b>Señor Ciudadano:</b></h3><h4 style='font-weight: 400 !important;'>Si usted realizó su "
    "trámite de inscripción, recuerde que éste se verá reflejado.</h4>"
)


def wsp(message, success=True):
    return {"success": success, "data": {"message": message}}


def test_wsp_found_from_the_live_capture():
    result = parse_wsp(wsp(LIVE_WSP_FOUND), "1100000000")
    assert result.status is CensusStatus.FOUND
    assert (result.departamento, result.municipio, result.puesto) == (
        "SUCRE",
        "SINCELEJO",
        "IE SAN JOSE C I P",
    )
    assert (result.direccion, result.mesa) == ("CL 22 No. 10A-380", "13")
    assert result.raw["success"] is True


def test_table_columns_found_by_label_not_position():
    # Columns in another order, labels only on the cells (no header row).
    html = (
        "<table><tr><td data-th='MESA'>7</td><td data-th='PUESTO'>CHOCHO</td>"
        "<td data-th='Dirección'>IE SAN ISIDRO DE CHOCO</td><td data-th='MUNICIPIO'>SINCELEJO</td>"
        "</tr></table>"
    )
    result = parse_census_table(html, "123456")
    assert (result.mesa, result.puesto, result.direccion) == (
        "7",
        "CHOCHO",
        "IE SAN ISIDRO DE CHOCO",
    )


@pytest.mark.parametrize(
    ("novedad", "status"),
    [
        ("Cancelada por Muerte", CensusStatus.CANCELLED_DECEASED),
        ("Cancelada por Doble Cedulación", CensusStatus.CANCELLED_OTHER),
        ("Cancelada por Falsa Identidad", CensusStatus.CANCELLED_OTHER),
        (
            "Vigente con Pérdida o Suspensión de los Derechos Políticos",
            CensusStatus.CANCELLED_OTHER,
        ),
    ],
)
def test_wsp_novelty_table(novedad, status):
    html = (
        "<table id='consulta'><thead><tr><th>NUIP</th><th>NOVEDAD</th><th>RESOLUCIÓN</th>"
        f"<th>FECHA NOVEDAD</th></tr></thead><tbody><tr><td>123456</td><td>{novedad}</td>"
        "<td>Resolución 12 de 2020</td><td>2020-01-02</td></tr></tbody></table>"
    )
    result = parse_wsp(wsp(html), "123456")
    assert result.status is status
    assert novedad in result.message and "Resolución 12 de 2020" in result.message


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("<h4>El documento no se encuentra en el censo</h4>", CensusStatus.NOT_IN_CENSUS),
        ("no se encuentra habilitado para votar", CensusStatus.NOT_IN_CENSUS),
        ("Pendiente por Solicitud en proceso", CensusStatus.PENDING_REVIEW),
    ],
)
def test_wsp_text_answers(text, status):
    assert parse_wsp(wsp(text), "123456").status is status


def test_wsp_failures_map_to_the_taxonomy():
    with pytest.raises(PageReloadNeeded) as reload:
        parse_wsp({"success": False, "reload": True}, "123")
    assert isinstance(reload.value, NetworkError)  # retryable if it escapes the client
    with pytest.raises(CaptchaTokenRejected):
        parse_wsp(wsp("Marque el cuadro de verificación o captcha!...", False), "123")
    with pytest.raises(NetworkError):
        parse_wsp(
            wsp("Curl error: Operation timed out after 15008 milliseconds with 0 bytes", False),
            "123",
        )
    with pytest.raises(RequestRefusedError):
        parse_wsp(wsp("Número de documento no válido", False), "123")
    for changed in ({"estado": "ok"}, [], wsp(""), wsp("<p>Servicio en mantenimiento</p>")):
        with pytest.raises(PageChangedError):
            parse_wsp(changed, "123")


@pytest.mark.parametrize("cedula", sorted(census.KNOWN_CEDULAS.values()))
def test_consultacenso_table_shape_of_january(cedula):
    body = census.table_for(cedula)
    assert parse_consulta_body(body, cedula).status.value == census.expected_status(cedula)


def test_consultacenso_body_judged_before_parsing():
    with pytest.raises(BotDetectedError):
        parse_consulta_body(
            "<html>The requested URL was rejected. Your support ID is: 1</html>", "1"
        )
    with pytest.raises(PageChangedError):
        parse_consulta_body("<html><p>Mantenimiento</p></html>", "1")


def test_numeric_mesa_is_text_and_extra_keys_kept():
    answer = census.answer_for("1020304050", key_case="lower", mesa_as_number=True)
    assert isinstance(answer["data"]["mesa"], int)
    result = parse_consulta(answer, "1020304050")
    assert result.mesa == str(answer["data"]["mesa"])
    assert result.fecha_ingreso and result.coddivipol and result.map_url
    answer["data"]["mesa"] = 13.0
    assert parse_consulta(answer, "1020304050").mesa == "13"


def test_novelty_wins_over_not_found():
    payload = {"ok": True, "encontrado": False, "novedad": True, "mensaje": "Cancelada por Muerte"}
    assert parse_consulta(payload, "1").status is CensusStatus.CANCELLED_DECEASED


def test_sources_setting():
    default = ScrapingConfig.from_env({})
    assert default.sources == ("consultacenso", "wsp")
    assert default.wsp_url == "https://wsp.registraduria.gov.co/censo/consultar/"
    assert ScrapingConfig.from_env({"CENSUS_SOURCES": " WSP , consultacenso"}).sources == (
        "wsp",
        "consultacenso",
    )
    only = ScrapingConfig.from_env({"CENSUS_SOURCES": "wsp", "REGISTRADURIA_WSP_URL": "http://x/"})
    assert only.sources == ("wsp",) and only.url_for("wsp") == "http://x/"
    for bad in ("consultacenso,other", "wsp,wsp"):
        with pytest.raises(ValueError):
            ScrapingConfig.from_env({"CENSUS_SOURCES": bad})


def test_each_source_has_its_own_key_per_egress():
    cfg = ScrapingConfig(proxy="http://u:secret@proxy:3128")
    keys = {cfg.source_key(name) for name in cfg.sources}
    assert keys == {"proxy:3128@consultacenso", "proxy:3128@wsp"}
    assert all("secret" not in key for key in keys)
