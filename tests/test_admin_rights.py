"""Admin rights on referrals (issue 21, item 5): "Verificar de nuevo" needs the change
permission and is audited (Django's admin LogEntry until the data-protection audit log
exists); the pipeline's fields (status, cédula, census data) are read-only; no adding."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from referrals.models import Referral

CHANGELIST = reverse("admin:referrals_referral_changelist")


def staff_with(*codenames) -> Client:
    user = User.objects.create_user("ops", "ops@example.com", "x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed_referral(user):
    return Referral.objects.create(
        cedula="1020304050",
        full_name="Ana Pérez",
        referred_by=user,
        status="failed",
        municipio="BOGOTA",
        last_error="después de varios intentos",
    )


def verify_again(client, referral):
    return client.post(
        CHANGELIST,
        {"action": "verify_again", "_selected_action": [referral.pk]},
        follow=True,
    )


def test_a_view_only_staff_user_cannot_requeue(db, failed_referral):
    client = staff_with("view_referral")
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "verify_again" not in page.content.decode()  # the action is not offered
    verify_again(client, failed_referral)
    failed_referral.refresh_from_db()
    assert failed_referral.status == "failed"
    assert not LogEntry.objects.exists()


def test_staff_with_the_change_permission_requeue_and_it_is_audited(db, failed_referral):
    client = staff_with("view_referral", "change_referral")
    response = verify_again(client, failed_referral)
    assert "1 referido en cola de nuevo." in response.content.decode()
    failed_referral.refresh_from_db()
    assert failed_referral.status == "pending"
    entry = LogEntry.objects.get()
    assert entry.user.username == "ops"
    assert entry.object_id == str(failed_referral.pk)
    assert entry.get_change_message() == "Verificar de nuevo: en cola de nuevo."
    # The entry shows in the referral's admin history.
    history = client.get(reverse("admin:referrals_referral_history", args=[failed_referral.pk]))
    assert "Verificar de nuevo" in history.content.decode()


def test_the_pipeline_fields_cannot_be_edited_by_hand(admin_client, failed_referral, user):
    url = reverse("admin:referrals_referral_change", args=[failed_referral.pk])
    form = admin_client.get(url).content.decode()
    for field in ("status", "cedula", "municipio", "census_status", "map_url", "attempts"):
        assert f'name="{field}"' not in form, field
    assert 'name="full_name"' in form
    response = admin_client.post(
        url,
        {
            "full_name": "Ana María Pérez",
            "referred_by": user.pk,
            "status": "verified",
            "cedula": "52123456",
            "municipio": "MEDELLIN",
            "census_status": "found",
            "map_url": "https://evil.example/",
            "scrape_attempts-TOTAL_FORMS": "0",
            "scrape_attempts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    failed_referral.refresh_from_db()
    assert failed_referral.full_name == "Ana María Pérez"
    assert (failed_referral.status, failed_referral.cedula) == ("failed", "1020304050")
    assert (failed_referral.municipio, failed_referral.census_status) == ("BOGOTA", "")
    assert failed_referral.map_url == ""


def test_referrals_are_not_added_in_the_admin(admin_client, db):
    assert admin_client.get(reverse("admin:referrals_referral_add")).status_code == 403
