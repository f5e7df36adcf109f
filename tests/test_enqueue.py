"""The verification task is published after the referral's transaction commits, and only then."""

import time

import pytest
from django.db import transaction
from django.urls import reverse

from pipeline import broker
from referrals import services
from referrals.models import Referral, Status


def test_create_view_enqueues_exactly_one_task_after_commit(
    user_client, django_capture_on_commit_callbacks, mocker
):
    delay = mocker.patch("pipeline.dispatch.publish_verification")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(
            reverse("referrals:create"), {"authorized": "on", "cedula": "1.020.304.050"}
        )
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
    delay = mocker.patch("pipeline.dispatch.publish_verification")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.create_referral(
            user=user, cedula="79845123", authorization=services.authorization("attested", by=user)
        )
        raise RuntimeError("the request failed after saving")
    assert callbacks == []
    assert not Referral.objects.exists()
    delay.assert_not_called()


def _queued_referral_ids(redis):
    return broker.queued_referral_ids()  # the fixture emptied the broker's database


@pytest.mark.django_db(transaction=True)
def test_message_reaches_real_redis_only_after_commit(client, redis):
    from django.contrib.auth.models import User

    user = User.objects.create_user("carla", password="clave-segura-123")
    client.force_login(user)
    with transaction.atomic():
        referral = services.create_referral(
            user=user, cedula="52123456", authorization=services.authorization("attested", by=user)
        )
        assert _queued_referral_ids(redis) == []
    assert _queued_referral_ids(redis) == [referral.pk]

    response = client.post(
        reverse("referrals:create"), {"authorized": "on", "cedula": "1 020 304 050"}
    )
    assert response.status_code == 302
    second = Referral.objects.get(cedula="1020304050")
    assert _queued_referral_ids(redis) == [second.pk, referral.pk]


def test_broker_outage_keeps_the_referral_pending(user, django_capture_on_commit_callbacks, mocker):
    from kombu.exceptions import OperationalError

    mocker.patch("pipeline.dispatch.send", side_effect=OperationalError("connection refused"))
    with django_capture_on_commit_callbacks(execute=True):
        referral = services.create_referral(
            user=user, cedula="52123457", authorization=services.authorization("attested", by=user)
        )
    referral.refresh_from_db()
    assert referral.status == "pending"  # the stale sweep publishes it again later


@pytest.mark.django_db(transaction=True)
def test_the_request_only_publishes_it_never_looks_up(client, redis, mocker):
    # A lookup takes 5-45 s (page, captcha, polite gap): it belongs to the worker, never to the
    # request. Nothing on the request's path may reach the census client or the run.
    lookup = mocker.patch("scraping.client.lookup_cedula", side_effect=AssertionError("lookup"))
    run = mocker.patch("pipeline.verification.verify_referral", side_effect=AssertionError("run"))
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("dani", password="clave-segura-123"))
    client.get(reverse("referrals:create"))  # warm up: templates, URL resolver
    started = time.monotonic()
    response = client.post(
        reverse("referrals:create"), {"authorized": "on", "cedula": "1.020.304.050"}
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert lookup.call_count == 0 and run.call_count == 0
    referral = Referral.objects.get()
    assert referral.status == Status.PENDING
    assert _queued_referral_ids(redis) == [referral.pk]
    assert elapsed < 2.0, elapsed  # a save and a publish; milliseconds on an idle machine


def test_saving_a_referral_outside_the_service_publishes_nothing(
    user, redis, django_capture_on_commit_callbacks
):
    # Publishing is an explicit call in services.create_referral, not a post_save receiver:
    # there is no signal for a test to forget to disconnect, and rows that tests (or a data
    # migration, or the shell) create with the ORM queue no surprise work.
    from django.db.models.signals import post_save

    assert not post_save.has_listeners(Referral)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Referral.objects.create(cedula="52123458", referred_by=user)
    assert callbacks == []
    assert _queued_referral_ids(redis) == []
