"""Personal data as Ley 1581 de 2012 expects (issue 17): the authorization record on every
referral, the versioned data policy, the neutral answer to a duplicate, the audit log, the data
subject's rights, retention, daily caps, and cédulas kept out of logs and alert titles."""

import csv
import io
import json
import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api import services as api_services
from api.models import IdempotentRequest
from campaigns import services as campaign_services
from campaigns.models import Membership, Role
from ops.alerts import raise_alert
from ops.models import Alert
from privacy import audit, policy
from privacy.models import Action, AuditEntry, PolicyAcceptance, PolicyVersion
from project.redaction import RedactingFilter, mask_cedulas
from referrals import imports, services, subjects
from referrals.models import DuplicateClaim, ImportBatch, Referral, ScrapeAttempt
from tests.campaign import PASSWORD, build_campaign
from webhooks.models import WebhookDelivery, WebhookEndpoint

CEDULA = "1020304050"
NAME = "Rosalba Quintero Marcadora"


@pytest.fixture
def campaign(db):
    return build_campaign()


@pytest.fixture
def people(campaign):
    return campaign["people"]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def entries(action, **filters):
    return AuditEntry.objects.filter(action=action, **filters)


def attested(user):
    return services.authorization("attested", by=user)


def add(client, cedula, *, authorized=True, name=""):
    data = {"cedula": cedula, "full_name": name}
    if authorized:
        data["authorized"] = "on"
    return client.post(reverse("referrals:create"), data)


def api_client(user) -> tuple[Client, str]:
    _token, key = api_services.create_token(user=user, name="CRM")
    return Client(), key


def api_post(client, key, path, body):
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


# --- no referral without an authorization record ---------------------------------------------


def test_the_add_form_needs_the_leaders_attestation_and_records_it(people, redis):
    owner = people["owner"]
    client = logged_in(owner)
    refused = add(client, CEDULA, authorized=False)
    assert refused.status_code == 200
    assert "Sin la autorización de la persona no podemos registrarla" in refused.content.decode()
    assert not Referral.objects.exists()
    page = client.get(reverse("referrals:create")).content.decode()
    assert 'name="authorized"' in page and reverse("privacy:policy") in page

    assert add(client, CEDULA).status_code == 302
    referral = Referral.objects.get()
    assert referral.consent_method == "attested" and referral.consent_by == owner
    assert referral.consent_policy_version == policy.current_version() == "2026-1"
    assert referral.consent_at is not None
    detail = client.get(referral.get_absolute_url()).content.decode()
    assert 'data-testid="authorization"' in detail and "certifica" in detail


def test_the_service_refuses_a_referral_without_an_authorization(people):
    with pytest.raises(services.MissingAuthorization):
        services.create_referral(user=people["owner"], cedula=CEDULA, authorization=None)
    with pytest.raises(services.MissingAuthorization):
        services.authorization("legacy")
    assert not Referral.objects.exists()


def upload(client, data: bytes):
    file = io.BytesIO(data)
    file.name = "lista.csv"
    return client.post(reverse("referrals:import"), {"file": file})


def test_an_import_is_confirmed_only_with_the_attestation(people, redis):
    owner = people["owner"]
    client = logged_in(owner)
    upload(client, b"cedula;nombre\n1020304050;Ana\n52123456;Bea\n")
    batch = ImportBatch.objects.get()
    page = client.get(batch.get_absolute_url()).content.decode()
    assert 'data-testid="attest"' in page
    refused = client.post(reverse("referrals:import-confirm", args=[batch.pk]), follow=True)
    assert "confirma que todas las personas" in refused.content.decode()
    assert not Referral.objects.exists()
    batch.refresh_from_db()
    assert batch.state == "review"
    client.post(reverse("referrals:import-confirm", args=[batch.pk]), {"authorized": "on"})
    assert {(r.consent_method, r.consent_by) for r in Referral.objects.all()} == {("import", owner)}
    assert (
        entries(Action.IMPORTED, actor=owner, target_id=str(batch.pk)).get().detail["created"] == 2
    )


def test_an_authorization_column_without_a_yes_keeps_the_row_out(people):
    batch = imports.prepare_import(
        user=people["owner"],
        data="cédula;nombre;autorización\n1020304050;Ana;sí\n52123456;Bea;no\n79845123;Caro;\n".encode(),
        filename="a.csv",
    )
    assert [r["outcome"] for r in batch.rows] == ["accepted", "invalid", "invalid"]
    assert "autorización" in imports.row_reason(batch.rows[1])


def test_self_registration_needs_the_persons_acceptance(people, redis):
    owner = people["owner"]
    url = reverse("self-register", args=[owner.membership.signup_code])
    page = Client().get(url).content.decode()
    assert reverse("privacy:policy") in page and "Ley 1581" in page
    refused = Client(REMOTE_ADDR="10.9.9.9").post(url, {"cedula": CEDULA, "full_name": NAME})
    assert "aceptar la política" in refused.content.decode()
    assert not Referral.objects.exists()
    with pytest.raises(services.MissingAuthorization):
        services.register_through_link(leader=owner, cedula=CEDULA, full_name=NAME, accepted=False)
    Client(REMOTE_ADDR="10.9.9.9").post(
        url, {"cedula": CEDULA, "full_name": NAME, "accept_policy": "on"}
    )
    referral = Referral.objects.get()
    assert (referral.consent_method, referral.consent_by) == ("self", None)
    assert referral.consent_policy_version == "2026-1"


def test_the_api_says_what_is_missing_and_creates_nothing_without_it(people, redis):
    client, key = api_client(people["owner"])
    missing = api_post(client, key, "/api/v1/referrals/", {"cedula": CEDULA})
    assert missing.status_code == 400
    error = missing.json()["error"]
    assert error["code"] == "authorization_required" and "data_authorization" in error["message"]
    batch = api_post(
        client,
        key,
        "/api/v1/referrals/batch/",
        {"referrals": [{"cedula": CEDULA}, {"cedula": "52123456", "data_authorization": True}]},
    ).json()
    assert [r["ok"] for r in batch["results"]] == [False, True]
    assert batch["results"][0]["error"]["code"] == "authorization_required"
    referral = Referral.objects.get()
    assert (referral.cedula, referral.consent_method, referral.source) == ("52123456", "api", "api")


# --- the data policy: versioned, shown, accepted again ----------------------------------------


def test_policy_pages_are_public_and_show_the_controller_and_rights(db, settings):
    settings.DATA_CONTROLLER_NAME = "Campaña Ejemplo S.A.S."
    settings.DATA_CONTROLLER_CONTACT = "datos@ejemplo.org"
    notice = Client().get(reverse("privacy:notice")).content.decode()
    assert "Campaña Ejemplo S.A.S." in notice and "datos@ejemplo.org" in notice
    text = Client().get(reverse("privacy:policy")).content.decode()
    assert "Derechos del titular" in text and "2026-1" in text
    signup = Client().get(reverse("signup"))  # invite-only: the page says so
    assert signup.status_code == 200


def test_signup_records_the_acceptance_and_a_new_version_asks_again(db, settings):
    settings.SIGNUP_MODE = "open"
    client = Client()
    form = {
        "username": "nueva",
        "email": "n@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    refused = client.post(reverse("signup"), form)
    assert "aceptar la política" in refused.content.decode()
    assert client.post(reverse("signup"), {**form, "accept_policy": "on"}).status_code == 302
    user = User.objects.get(username="nueva")
    assert list(PolicyAcceptance.objects.filter(user=user).values_list("version", flat=True)) == [
        "2026-1"
    ]
    assert client.get(reverse("referrals:list")).status_code == 200

    PolicyVersion.objects.create(
        version="2027-1", controller="Campaña", contact="datos@ejemplo.org", policy_text="Nueva."
    )
    asked = client.get(reverse("referrals:list"))
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("privacy:accept"))
    assert client.get(asked["Location"]).status_code == 200
    assert client.post(reverse("privacy:accept"), {}).status_code == 200  # not ticked
    accepted = client.post(
        reverse("privacy:accept"), {"accept": "on", "next": reverse("referrals:list")}
    )
    assert accepted["Location"] == reverse("referrals:list")
    assert client.get(reverse("referrals:list")).status_code == 200
    assert PolicyAcceptance.objects.filter(user=user, version="2027-1").exists()
    assert entries(Action.POLICY_ACCEPTED, actor=user).count() == 2


def test_an_account_that_never_accepted_sees_a_banner_not_a_wall(people):
    page = logged_in(people["owner"]).get(reverse("referrals:list"))
    assert page.status_code == 200 and 'data-testid="policy-banner"' in page.content.decode()


# --- no membership disclosure -----------------------------------------------------------------


def test_a_duplicate_gets_the_same_answer_from_an_outsider_and_a_user_without_access(people, redis):
    owner = people["owner"]
    services.create_referral(
        user=owner, cedula=CEDULA, full_name=NAME, authorization=attested(owner)
    )

    def answer(user):
        response = add(logged_in(user), "1.020.304.050")
        assert response.status_code == 200
        body = response.content.decode()
        start = body.index('<form method="post" novalidate')
        form = body[start : body.index("</form>", start)]
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", form)

    outsider = answer(people["outsider"])  # a leader of the other team
    teammate = answer(people["teammate"])  # same team, may not see A's referrals
    assert "No es posible registrar esta cédula" in outsider
    assert outsider == teammate  # word for word
    assert "ya está registrada" not in outsider and NAME not in outsider

    coordinator = answer(people["coordinator"])  # runs A's team: sees it
    assert "ya está registrada y puedes verla" in coordinator
    assert 'data-testid="existing-referral"' in coordinator

    # Public link: an anonymous visitor gets the same neutral words.
    url = reverse("self-register", args=[people["outsider"].membership.signup_code])
    public = Client(REMOTE_ADDR="10.7.7.7").post(
        url, {"cedula": CEDULA, "full_name": "X", "accept_policy": "on"}
    )
    assert "No es posible registrar esta cédula" in public.content.decode()

    claims = DuplicateClaim.objects.order_by("pk")
    assert [(c.claimant, c.source) for c in claims] == [
        (people["outsider"], "form"),
        (people["teammate"], "form"),
        (people["outsider"], "link"),
    ]


def test_the_api_and_the_import_report_follow_the_same_rule(people, redis):
    owner = people["owner"]
    services.create_referral(user=owner, cedula=CEDULA, authorization=attested(owner))
    bodies = {}
    for role in ("outsider", "teammate", "coordinator"):
        client, key = api_client(people[role])
        response = api_post(
            client, key, "/api/v1/referrals/", {"cedula": CEDULA, "data_authorization": True}
        )
        assert response.status_code == 409
        bodies[role] = response.json()
    assert bodies["outsider"] == bodies["teammate"]
    assert bodies["outsider"]["error"]["code"] == "not_registrable"
    assert bodies["coordinator"]["error"]["code"] == "already_registered"

    reports = {}
    for role in ("outsider", "teammate", "coordinator"):
        batch = imports.prepare_import(
            user=people[role], data=b"cedula\n1020304050\n", filename="x.csv"
        )
        reports[role] = (batch.rows[0]["outcome"], imports.row_reason(batch.rows[0]))
    assert reports["outsider"] == reports["teammate"]
    assert reports["outsider"][0] == "not_registrable"
    assert reports["coordinator"][0] == "already_registered"
    # Confirming the outsider's batch records a claim.
    outsider_batch = ImportBatch.objects.get(created_by=people["outsider"])
    imports.confirm_import(outsider_batch, attested=True)
    assert DuplicateClaim.objects.filter(claimant=people["outsider"], source="import").exists()


def test_claims_are_seen_and_resolved_by_the_owning_teams_coordinator_or_the_manager(people, redis):
    owner = people["owner"]
    services.create_referral(
        user=owner, cedula=CEDULA, full_name=NAME, authorization=attested(owner)
    )
    add(logged_in(people["outsider"]), CEDULA)
    claim = DuplicateClaim.objects.get()
    page = logged_in(people["coordinator"]).get(reverse("referrals:claims")).content.decode()
    assert 'data-testid="claim"' in page and "pedro" in page
    other = logged_in(people["coordinator2"]).get(reverse("referrals:claims")).content.decode()
    assert 'data-testid="claim"' not in other
    assert logged_in(owner).get(reverse("referrals:claims")).status_code == 403
    url = reverse("referrals:claim-resolve", args=[claim.pk])
    assert logged_in(people["coordinator2"]).post(url).status_code == 404
    logged_in(people["manager"]).post(url, {"resolution": "Habló con Pedro"})
    claim.refresh_from_db()
    assert claim.resolved_by == people["manager"] and claim.resolution == "Habló con Pedro"
    assert entries(Action.CLAIM_RESOLVED, actor=people["manager"]).exists()


# --- the audit log ----------------------------------------------------------------------------


def test_the_audit_log_records_each_listed_action(people, redis, settings):
    owner, manager, coordinator = people["owner"], people["manager"], people["coordinator"]
    referral = services.create_referral(
        user=owner, cedula=CEDULA, full_name=NAME, authorization=attested(owner)
    )
    Referral.objects.filter(pk=referral.pk).update(status="failed")
    client = logged_in(owner)

    client.get(referral.get_absolute_url())
    assert entries(Action.REFERRAL_VIEWED, actor=owner, target_id=str(referral.pk)).exists()
    client.get(reverse("referrals:list"), {"status": "failed"})
    assert entries(Action.LIST_VIEWED, actor=owner).get().detail["filters"] == {"status": "failed"}

    export = client.get(reverse("referrals:export"), {"status": "failed"})
    lines = b"".join(export.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[-1].startswith("Exportado por ana el ")
    exported = entries(Action.EXPORTED, actor=owner).get()
    assert exported.detail == {"filters": {"status": "failed"}, "rows": 1}

    client.post(reverse("referrals:reverify"), {"pk": referral.pk})
    assert entries(Action.REVERIFIED, actor=owner).get().detail["count"] == 1

    upload(client, b"cedula\n52123456\n")
    batch = ImportBatch.objects.get()
    client.post(reverse("referrals:import-confirm", args=[batch.pk]), {"authorized": "on"})
    assert entries(Action.IMPORTED, actor=owner).exists()

    # Team moves (portal and admin) and role changes (admin).
    membership = people["teammate"].membership
    campaign_services.move_member(actor=manager, membership=membership, team=None)
    moved = entries(Action.TEAM_MOVED, actor=manager).get()
    assert moved.detail == {"member": "lucia", "from_team": "Norte", "to_team": None}
    superuser = User.objects.create_superuser("root", "root@example.com", "clave-0")
    admin = logged_in(superuser)
    change = reverse("admin:campaigns_membership_change", args=[membership.pk])
    admin.post(
        change, {"user": membership.user_id, "role": Role.COORDINATOR, "team": "", "goal": 0}
    )
    assert Membership.objects.get(pk=membership.pk).role == Role.COORDINATOR
    role = entries(Action.ROLE_CHANGED, actor=superuser).get()
    assert (role.detail["from_role"], role.detail["to_role"]) == ("leader", "coordinator")

    # Log-ins and failed log-ins.
    Client().post(reverse("login"), {"username": "gerente", "password": "mala"})
    assert entries(Action.LOGIN_FAILED).get().detail == {"username": "gerente"}
    Client().post(reverse("login"), {"username": "gerente", "password": PASSWORD})
    assert entries(Action.LOGIN, actor=manager).exists()

    # Deleting (a referral typed by mistake): the entry keeps a keyed hash, not the cédula.
    client.post(reverse("referrals:remove", args=[referral.pk]))
    deleted = entries(Action.DELETED, actor=owner).get()
    assert deleted.subject_hash == audit.subject_hash(CEDULA) and CEDULA not in str(deleted.detail)

    # Visible to managers and staff, exportable; nobody else reads it.
    page = logged_in(manager).get(reverse("privacy:audit"), {"action": "exported"})
    assert page.status_code == 200 and 'data-action="exported"' in page.content.decode()
    assert logged_in(coordinator).get(reverse("privacy:audit")).status_code == 403
    staff = User.objects.create_user("ops", password="x", is_staff=True)
    csv_body = logged_in(staff).get(reverse("privacy:audit-export"))
    rows = list(
        csv.reader(
            io.StringIO(b"".join(csv_body.streaming_content).decode("utf-8-sig")), delimiter=";"
        )
    )
    assert rows[0][0] == "Cuándo" and rows[-1][0].startswith("Exportado por ops")
    assert entries(Action.AUDIT_EXPORTED, actor=staff).exists()
    assert not AuditEntry.objects.filter(detail__icontains=CEDULA).exists()


def test_the_audit_log_is_append_only(people):
    entry = audit.record(Action.LOGIN, actor=people["owner"])
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.update(action="x")
    assert AuditEntry.objects.count() == 1


# --- a data subject's rights ------------------------------------------------------------------


def holdings(people):
    """The person's data everywhere the product keeps copies: the referral (census answer,
    attempts), two import batches, a claim, a webhook payload, a kept API answer, an alert."""
    owner = people["owner"]
    referral = services.create_referral(
        user=owner, cedula=CEDULA, full_name=NAME, authorization=attested(owner)
    )
    Referral.objects.filter(pk=referral.pk).update(
        status="verified",
        municipio="MEDELLIN",
        census_raw={"nuip": CEDULA, "nombre": NAME},
        census_message=f"Cédula {CEDULA} vigente",
    )
    ScrapeAttempt.objects.create(referral=referral, error_message=f"consulta {CEDULA}")
    for who in ("owner", "outsider"):
        ImportBatch.objects.create(
            created_by=people[who],
            filename="lista.csv",
            rows=[
                {
                    "line": 2,
                    "cedula": CEDULA,
                    "raw_cedula": "1.020.304.050",
                    "full_name": NAME,
                    "outcome": "accepted",
                    "reason": "",
                    "params": {},
                },
                {
                    "line": 3,
                    "cedula": "52123456",
                    "raw_cedula": "52123456",
                    "full_name": "Otra",
                    "outcome": "accepted",
                    "reason": "",
                    "params": {},
                },
            ],
        )
    DuplicateClaim.objects.create(referral=referral, claimant=people["outsider"], source="form")
    endpoint = WebhookEndpoint.objects.create(owner=owner, url="http://127.0.0.1:9/h", secret="s")
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="msg_1",
        event_type="referral.finished",
        payload={"data": {"cedula": CEDULA, "full_name": NAME, "status": "verified"}},
    )
    IdempotentRequest.objects.create(
        user=owner,
        key="k",
        fingerprint="f",
        status_code=201,
        response={"cedula": CEDULA, "full_name": NAME},
    )
    raise_alert("referral-failed:1", f"Falló {CEDULA}", f"La cédula {CEDULA} de {NAME}")
    return referral


def every_row_text():
    """Every table of the database, every row, as text: what a grep of a dump would see."""
    found = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            found[table] = "\n".join(repr(row) for row in cursor.fetchall())
    return found


def test_deleting_a_subject_leaves_no_copy_of_the_cedula_or_name_anywhere(people, redis):
    holdings(people)
    before = every_row_text()
    assert [t for t, text in before.items() if CEDULA in text]  # the grep can find it
    manager = logged_in(people["manager"])
    report = manager.post(reverse("subjects:report"), {"cedula": "1.020.304.050"})
    held = json.loads(report.content)
    assert held["referido"]["nombre"] == NAME and len(held["copias_en_importaciones"]) == 2
    assert held["referido"]["autorizacion"]["forma"] == "attested"
    refused = manager.post(reverse("subjects:erase"), {"cedula": CEDULA})
    assert refused.status_code == 400 and Referral.objects.exists()
    manager.post(reverse("subjects:erase"), {"cedula": CEDULA, "confirm": "on"})

    after = every_row_text()
    leaks = {t: text for t, text in after.items() if CEDULA in text or NAME in text}
    # The name may appear only JSON-escaped on some backends: look for its ASCII part too.
    leaks |= {t: text for t, text in after.items() if "Marcadora" in text}
    assert not leaks, f"copies left in: {sorted(leaks)}"
    assert not Referral.objects.exists() and not ScrapeAttempt.objects.exists()
    assert ImportBatch.objects.count() == 2  # the batches stay, their rows of the person blanked
    assert all(
        "52123456" in json.dumps(b.rows) for b in ImportBatch.objects.all()
    )  # other people's rows are untouched
    deleted = entries(Action.DELETED, actor=people["manager"]).get()
    assert deleted.subject_hash == audit.subject_hash(CEDULA)
    assert deleted.detail["import_rows"] == 2
    assert entries(Action.SUBJECT_EXPORTED, subject_hash=audit.subject_hash(CEDULA)).exists()


def test_only_a_manager_answers_subject_requests_and_may_correct_the_name(people, redis):
    owner = people["owner"]
    referral = services.create_referral(
        user=owner, cedula=CEDULA, full_name="Nombre Malo", authorization=attested(owner)
    )
    for role in ("owner", "coordinator", "viewer_all"):
        assert (
            logged_in(people[role]).post(reverse("subjects:lookup"), {"cedula": CEDULA}).status_code
            == 403
        )
    manager = logged_in(people["manager"])
    found = manager.post(reverse("subjects:lookup"), {"cedula": CEDULA}).content.decode()
    assert "Nombre Malo" in found and 'data-testid="subject-erase"' in found
    assert entries(Action.SUBJECT_LOOKED_UP, subject_hash=audit.subject_hash(CEDULA)).exists()
    manager.post(reverse("subjects:correct"), {"cedula": CEDULA, "full_name": " Nombre  Bueno "})
    referral.refresh_from_db()
    assert referral.full_name == "Nombre Bueno"
    assert entries(Action.CORRECTED, target_id=str(referral.pk)).exists()


def test_a_user_removes_a_referral_they_typed_by_mistake_and_nobody_else_does(people, redis):
    owner = people["owner"]
    referral = services.create_referral(user=owner, cedula=CEDULA, authorization=attested(owner))
    url = reverse("referrals:remove", args=[referral.pk])
    assert logged_in(people["coordinator"]).post(url).status_code == 403  # sees it, did not type it
    assert logged_in(people["outsider"]).post(url).status_code == 404
    assert (
        'data-testid="remove"' in logged_in(owner).get(referral.get_absolute_url()).content.decode()
    )
    assert logged_in(owner).post(url)["Location"] == reverse("referrals:list")
    assert not Referral.objects.exists()


# --- retention --------------------------------------------------------------------------------


def test_retention_purges_exactly_what_is_due_and_a_second_run_finds_nothing(people, settings):
    settings.DATA_RETENTION_DAYS = 365
    settings.IMPORT_ROWS_RETENTION_DAYS = 30
    owner = people["owner"]
    now = timezone.now()
    old = services.create_referral(
        user=owner, cedula=CEDULA, full_name=NAME, authorization=attested(owner)
    )
    edge = services.create_referral(user=owner, cedula="52123456", authorization=attested(owner))
    fresh = services.create_referral(user=owner, cedula="79845123", authorization=attested(owner))
    Referral.objects.filter(pk=old.pk).update(updated_at=now - timedelta(days=366))
    Referral.objects.filter(pk=edge.pk).update(updated_at=now - timedelta(days=364))
    Referral.objects.filter(pk=fresh.pk).update(updated_at=now)
    row = {"line": 2, "cedula": "1", "raw_cedula": "1", "full_name": "x", "outcome": "invalid"}
    stale = ImportBatch.objects.create(created_by=owner, filename="a.csv", rows=[row, row])
    recent = ImportBatch.objects.create(created_by=owner, filename="b.csv", rows=[row])
    ImportBatch.objects.filter(pk=stale.pk).update(created_at=now - timedelta(days=31))
    ImportBatch.objects.filter(pk=recent.pk).update(created_at=now - timedelta(days=29))

    first = subjects.purge_expired(now)
    assert first == {"referrals": 1, "batches_emptied": 1, "import_rows": 2}
    assert set(Referral.objects.values_list("cedula", flat=True)) == {"52123456", "79845123"}
    stale.refresh_from_db()
    recent.refresh_from_db()
    assert stale.rows == [] and len(recent.rows) == 1
    assert (
        entries(Action.DELETED, subject_hash=audit.subject_hash(CEDULA)).get().detail["reason"]
        == "retention"
    )
    assert entries(Action.RETENTION_PURGED).get().detail == first
    assert subjects.purge_expired(now) == {"referrals": 0, "batches_emptied": 0, "import_rows": 0}
    assert entries(Action.RETENTION_PURGED).count() == 1


def test_retention_runs_from_beat(settings):
    from pipeline import dispatch

    entry = settings.CELERY_BEAT_SCHEDULE["purge-personal-data"]
    assert entry["task"] == dispatch.PURGE_PERSONAL_DATA
    assert entry["schedule"] == settings.RETENTION_PURGE_EVERY


# --- daily caps ------------------------------------------------------------------------------


def test_the_101st_new_referral_of_a_day_at_a_cap_of_100_is_stopped_with_a_clear_message(
    people, redis, settings
):
    settings.NEW_REFERRALS_DAILY_CAP = 100
    owner = people["owner"]
    for i in range(99):
        services.create_referral(
            user=owner, cedula=str(1_600_000_000 + i * 7), authorization=attested(owner)
        )
    client = logged_in(owner)
    assert add(client, "1700000001").status_code == 302  # the 100th
    stopped = add(client, "1700000002")
    assert stopped.status_code == 200
    assert "Llegaste al límite de 100 referidos nuevos por día" in stopped.content.decode()
    assert Referral.objects.count() == 100 and not Referral.objects.filter(cedula="1700000002")
    api, key = api_client(owner)
    capped = api_post(
        api, key, "/api/v1/referrals/", {"cedula": "1700000003", "data_authorization": True}
    )
    assert capped.status_code == 429 and capped.json()["error"]["code"] == "daily_cap"
    # Another leader's day is their own.
    teammate = people["teammate"]
    assert add(logged_in(teammate), "1700000004").status_code == 302


def test_an_import_over_what_is_left_today_creates_nothing(people, redis, settings):
    settings.NEW_REFERRALS_DAILY_CAP = 2
    owner = people["owner"]
    client = logged_in(owner)
    upload(client, b"cedula\n1020304050\n52123456\n79845123\n")
    batch = ImportBatch.objects.get()
    assert 'data-testid="cap-warning"' in client.get(batch.get_absolute_url()).content.decode()
    page = client.post(
        reverse("referrals:import-confirm", args=[batch.pk]), {"authorized": "on"}, follow=True
    ).content.decode()
    assert "Llegaste al límite de 2" in page and not Referral.objects.exists()
    batch.refresh_from_db()
    assert batch.state == "review"


# --- less data in logs and alerts --------------------------------------------------------------


def test_logs_show_the_last_three_digits_and_alert_titles_none(db, caplog):
    assert mask_cedulas("cédula 1020304050 y 1.020.304.050, id 42") == (
        "cédula *******050 y *******050, id 42"
    )
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "lookup %s", (CEDULA,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "lookup *******050"
    with caplog.at_level(logging.ERROR, logger="ops.alerts"):
        raise_alert("k1", f"Falló la cédula {CEDULA}", f"detalle {CEDULA}")
    alert = Alert.objects.get()
    assert CEDULA not in alert.title and "050" not in alert.title
    assert alert.body == "detalle *******050"
    assert CEDULA not in caplog.text


def test_the_apis_reads_are_audited_like_the_portals(people, redis):
    owner = people["owner"]
    referral = services.create_referral(user=owner, cedula=CEDULA, authorization=attested(owner))
    client, key = api_client(owner)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get(f"/api/v1/referrals/{referral.pk}/", **auth).status_code == 200
    assert client.get("/api/v1/referrals/", {"status": "pending"}, **auth).status_code == 200
    viewed = entries(Action.REFERRAL_VIEWED, actor=owner).get()
    assert (viewed.target_id, viewed.detail) == (str(referral.pk), {"via": "api"})
    listed = entries(Action.LIST_VIEWED, actor=owner).get()
    assert listed.detail == {"filters": {"status": "pending"}, "via": "api"}
