"""Results users act on: filters, search, "por puesto", CSV export, status explanations."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals import exports
from referrals.models import Referral, Status


def make(user, cedula, **fields):
    return Referral.objects.create(cedula=cedula, referred_by=user, **fields)


@pytest.fixture
def referrals(user, other_user):
    mine = [
        make(
            user,
            "1020304050",
            full_name="Ana Pérez",
            status=Status.VERIFIED,
            departamento="ANTIOQUIA",
            municipio="MEDELLIN",
            puesto="IE JOSE MARIA CORDOBA",
            mesa="3",
        ),
        make(
            user,
            "79845123",
            full_name='=HYPERLINK("http://x")',
            status=Status.VERIFIED,
            departamento="ANTIOQUIA",
            municipio="MEDELLIN",
            puesto="IE JOSE MARIA CORDOBA",
        ),
        make(
            user,
            "52123456",
            full_name="+57 Beto",
            status=Status.VERIFIED,
            departamento="VALLE",
            municipio="CALI",
            puesto="COLISEO CUBIERTO MUNICIPAL",
        ),
        make(user, "1000000001", full_name="@Carla", status=Status.NOT_FOUND),
        make(user, "1000000002", full_name="-Dario", status=Status.PENDING),
    ]
    make(
        other_user,
        "88888888",
        full_name="Ana de Beto",
        status=Status.VERIFIED,
        departamento="BOLIVAR",
        municipio="CARTAGENA",
        puesto="PUESTO AJENO",
    )
    return mine


def listed(client, **params):
    response = client.get(reverse("referrals:list"), params)
    assert response.status_code == 200
    return {r.cedula for r in response.context["page"]}


def test_filters_and_search_return_only_own_rows(user_client, referrals):
    assert listed(user_client) == {r.cedula for r in referrals}
    assert listed(user_client, status="verified") == {"1020304050", "79845123", "52123456"}
    assert listed(user_client, municipio="MEDELLIN") == {"1020304050", "79845123"}
    assert listed(user_client, puesto="COLISEO CUBIERTO MUNICIPAL") == {"52123456"}
    assert listed(user_client, q="1.020.304") == {"1020304050"}
    assert listed(user_client, q="ana") == {"1020304050"}  # not the other user's "Ana de Beto"
    assert listed(user_client, q="88888888") == set()
    assert listed(user_client, municipio="CARTAGENA") == set()
    assert listed(user_client, status="nonsense") == {r.cedula for r in referrals}


def test_select_options_come_from_own_data(user_client, referrals):
    body = user_client.get(reverse("referrals:list")).content.decode()
    assert "MEDELLIN" in body and "COLISEO CUBIERTO MUNICIPAL" in body
    assert "CARTAGENA" not in body and "PUESTO AJENO" not in body
    # Every input has a label.
    for field_id in ("f-q", "f-status", "f-municipio", "f-puesto", "language"):
        assert f'for="{field_id}"' in body


def test_por_puesto_counts_own_rows(user_client, referrals):
    response = user_client.get(reverse("referrals:places"))
    groups = response.context["groups"]
    counts = {(g["municipio"], g["puesto"]): g["total"] for g in groups}
    assert counts == {
        ("", ""): 2,
        ("CALI", "COLISEO CUBIERTO MUNICIPAL"): 1,
        ("MEDELLIN", "IE JOSE MARIA CORDOBA"): 2,
    }
    assert "PUESTO AJENO" not in response.content.decode()


def read_export(client, **params):
    response = client.get(reverse("referrals:export"), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_export_round_trips_the_filtered_rows_and_neutralises_formulas(user_client, referrals):
    rows = read_export(user_client, municipio="MEDELLIN")
    assert rows[0][:3] == ["Cédula", "Nombre", "Estado"]
    assert rows[-1][0].startswith("Exportado por ana el ")  # the last line: who, and when
    body = {row[0]: row for row in rows[1:-1]}
    assert set(body) == {"1020304050", "79845123"}
    assert body["1020304050"][1:8] == [
        "Ana Pérez",
        "Verificado",
        "ANTIOQUIA",
        "MEDELLIN",
        "IE JOSE MARIA CORDOBA",
        "",
        "3",
    ]
    assert body["79845123"][1] == '\'=HYPERLINK("http://x")'

    everything = {row[0]: row[1] for row in read_export(user_client)[1:-1]}
    assert set(everything) == {r.cedula for r in referrals}  # never the other user's
    assert everything["52123456"] == "'+57 Beto"
    assert everything["1000000001"] == "'@Carla"
    assert everything["1000000002"] == "'-Dario"


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_neutralise(value):
    assert exports.neutralise(value) == "'" + value
    assert exports.neutralise("Ana " + value) == "Ana " + value


@pytest.mark.parametrize(
    ("fields", "label", "says"),
    [
        ({"status": Status.NOT_FOUND}, "No está en el censo", "no está en el censo electoral"),
        (
            {"status": Status.CANCELLED, "census_status": "cancelled_deceased"},
            "Cédula cancelada",
            "cancelada por muerte",
        ),
        (
            {"status": Status.CANCELLED, "census_status": "cancelled_other"},
            "Cédula cancelada",
            "derechos políticos",
        ),
        ({"status": Status.IN_REVIEW}, "En revisión", "solicitud en trámite"),
        ({"status": Status.RETRYING}, "Reintentando", "Lo intentaremos de nuevo automáticamente"),
        ({"status": Status.BLOCKED}, "Bloqueado", "nuestro equipo fue alertado"),
        (
            {"status": Status.FAILED, "last_error": "La Registraduría cambió su página."},
            "Falló",
            "La Registraduría cambió su página.",
        ),
        ({"status": Status.PENDING, "stale_flagged_at": timezone.now()}, "Demorado", "alertado"),
    ],
)
def test_detail_explains_why_a_referral_is_not_verified(user_client, user, fields, label, says):
    referral = make(user, "1000000003", **fields)
    body = user_client.get(referral.get_absolute_url()).content.decode()
    assert f">{label}</span>" in body
    assert says in body


def test_delayed_shows_in_the_list_and_its_filter(user_client, user):
    make(user, "1000000003", status=Status.VERIFYING, stale_flagged_at=timezone.now())
    make(user, "1000000004", status=Status.VERIFYING)
    body = user_client.get(reverse("referrals:list")).content.decode()
    assert 'data-status="delayed">Demorado<' in body
    assert listed(user_client, status="delayed") == {"1000000003"}


def test_verified_detail_shows_census_data(user_client, referrals):
    body = user_client.get(referrals[0].get_absolute_url()).content.decode()
    assert "IE JOSE MARIA CORDOBA" in body and "MEDELLIN" in body


def test_english_is_available(user_client, referrals):
    response = user_client.post(
        reverse("set_language"), {"language": "en", "next": reverse("referrals:list")}
    )
    assert response.status_code == 302
    body = user_client.get(reverse("referrals:list")).content.decode()
    assert '<html lang="en">' in body
    assert "My referrals" in body and "Verified" in body
    detail = user_client.get(referrals[3].get_absolute_url()).content.decode()
    assert "Not in the census" in detail
    header = read_export(user_client)[0]
    assert header[:2] == ["ID number", "Name"]


def test_spanish_is_the_default(user_client, referrals):
    body = user_client.get(reverse("referrals:list")).content.decode()
    assert '<html lang="es-co">' in body and "Mis referidos" in body


def test_dates_are_shown_in_bogota_time(user_client, referrals):
    from datetime import UTC, datetime

    Referral.objects.filter(pk=referrals[0].pk).update(
        created_at=datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    )
    exported = {row[0]: row[-1] for row in read_export(user_client)[1:-1]}
    assert exported["1020304050"] == "2025-12-31 22:00"
    body = user_client.get(reverse("referrals:list")).content.decode()
    assert "31 Dic 2025 22:00" in body or "31 dic 2025 22:00" in body.lower()
