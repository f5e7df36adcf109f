"""Through the real parts: the portal view, Redis, and a Celery worker process."""

import pytest
from django.urls import reverse

from referrals.models import Referral, Status
from tests.procs import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_referral_created_in_the_portal_is_picked_up_by_a_real_worker(
    client, django_user_model, start_worker
):
    user = django_user_model.objects.create_user("dora", password="clave-segura-123")
    client.force_login(user)
    start_worker()

    response = client.post(reverse("referrals:create"), {"cedula": "1.020.304.050"})
    assert response.status_code == 302
    referral = Referral.objects.get(cedula="1020304050")

    def left_pending():
        referral.refresh_from_db()
        return referral.status not in Status.in_flight()

    wait_for(left_pending, timeout=60, message="the worker to finish the referral")
    assert referral.attempts >= 1
    assert referral.finished_at is not None
