"""The verification task is published after the referral's transaction commits, and only then."""

import base64
import json

import pytest
from django.db import transaction
from django.urls import reverse

from referrals import services
from referrals.models import Referral


def test_create_view_enqueues_exactly_one_task_after_commit(
    user_client, django_capture_on_commit_callbacks, mocker
):
    delay = mocker.patch("referrals.tasks.verify_referral.delay")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("referrals:create"), {"cedula": "1.020.304.050"})
        # Saved, but nothing published yet: the transaction has not committed.
        assert delay.call_count == 0
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.cedula == "1020304050"
    assert len(callbacks) == 1
    callbacks[0]()
    delay.assert_called_once_with(referral.pk)


def test_rolled_back_transaction_publishes_nothing(
    user, django_capture_on_commit_callbacks, mocker
):
    delay = mocker.patch("referrals.tasks.verify_referral.delay")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.create_referral(user=user, cedula="79845123")
        raise RuntimeError("the request failed after saving")
    assert callbacks == []
    assert not Referral.objects.exists()
    delay.assert_not_called()


def _queued_referral_ids(redis, queue="scraping"):
    ids = []
    for raw in redis.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return ids


@pytest.mark.django_db(transaction=True)
def test_message_reaches_real_redis_only_after_commit(client, redis):
    from django.contrib.auth.models import User

    user = User.objects.create_user("carla", password="clave-segura-123")
    client.force_login(user)
    with transaction.atomic():
        referral = services.create_referral(user=user, cedula="52123456")
        assert _queued_referral_ids(redis) == []
    assert _queued_referral_ids(redis) == [referral.pk]

    response = client.post(reverse("referrals:create"), {"cedula": "1 020 304 050"})
    assert response.status_code == 302
    second = Referral.objects.get(cedula="1020304050")
    assert _queued_referral_ids(redis) == [second.pk, referral.pk]


def test_broker_outage_keeps_the_referral_pending(user, django_capture_on_commit_callbacks, mocker):
    from kombu.exceptions import OperationalError

    mocker.patch(
        "referrals.tasks.verify_referral.delay", side_effect=OperationalError("connection refused")
    )
    with django_capture_on_commit_callbacks(execute=True):
        referral = services.create_referral(user=user, cedula="52123457")
    referral.refresh_from_db()
    assert referral.status == "pending"  # the stale sweep publishes it again later
