"""Two census sources: failover on a block, a changed page or repeated failures (never on an
answer), the probe that brings the preferred source back, the source recorded and shown, the
drift canary. Units with the lookup stubbed, then the real thing: a Celery worker, Chromium and
the simulator serving both pages."""

import dataclasses
import json
import time

import pytest
from django.urls import reverse

from ops import canary, monitoring
from ops.models import Alert, CensusPageSnapshot
from ops.pause import verification_pause
from pipeline import dispatch, verification
from pipeline.egress import source_breaker
from referrals.models import Referral, ScrapeAttempt, Status
from scraping.errors import BotDetectedError, NetworkError, PageChangedError
from scraping.results import CensusResult, CensusStatus, SourceProbe
from simulator import KNOWN_CEDULAS
from tests.procs import wait_for

BOTH = ("consultacenso", "wsp")


@pytest.fixture
def both_sources(settings):
    settings.SCRAPING = dataclasses.replace(settings.SCRAPING, sources=BOTH)
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.PAGE_CHANGED_CONFIRMATIONS = 2
    return settings


@pytest.fixture
def site(mocker):
    """The census as each source answers it: a dict source → exception or None (an answer);
    records which source each lookup went to."""
    behaviour = {"consultacenso": None, "wsp": None}
    calls = []

    def lookup(cedula, source=None):
        calls.append(source)
        if behaviour[source] is not None:
            raise behaviour[source]
        status = (
            CensusStatus.FOUND if cedula == KNOWN_CEDULAS["found"] else CensusStatus.NOT_IN_CENSUS
        )
        return CensusResult(
            cedula=cedula,
            status=status,
            message="" if status is CensusStatus.FOUND else "no se encuentra en el censo",
            departamento="SUCRE",
            municipio="SINCELEJO",
            puesto="IE SAN JOSE",
            mesa="13",
            raw={"ok": True, "captchaToken": "03AFcWeA" + "x" * 60},
            source=source,
        )

    mocker.patch("scraping.client.lookup_cedula", side_effect=lookup)
    return behaviour, calls


def run(referral, holder):
    """One run of the verification task; a deferral comes back as the string 'deferred'."""
    try:
        return verification.verify_referral(referral.pk, holder)
    except verification.Deferred:
        return "deferred"


@pytest.mark.django_db
def test_a_block_moves_the_referral_and_the_next_ones_to_the_next_source(
    both_sources, site, redis, user
):
    behaviour, calls = site
    behaviour["consultacenso"] = BotDetectedError("request rejected")
    referral = Referral.objects.create(cedula=KNOWN_CEDULAS["found"], referred_by=user)
    assert run(referral, "t1") == "deferred"  # not `blocked`: another source can answer
    referral.refresh_from_db()
    assert referral.status == Status.RETRYING and referral.attempts == 0
    assert run(referral, "t2") == Status.VERIFIED
    referral.refresh_from_db()
    assert referral.census_source == "wsp" and referral.attempts == 1
    attempts = list(
        referral.scrape_attempts.order_by("started_at").values_list("source", "outcome")
    )
    assert attempts == [("consultacenso", "blocked"), ("wsp", "found")]
    later = Referral.objects.create(cedula=KNOWN_CEDULAS["not_in_census"], referred_by=user)
    assert run(later, "t3") == Status.NOT_FOUND
    assert calls == ["consultacenso", "wsp", "wsp"]
    assert list(Alert.objects.values_list("key", flat=True)) == ["circuit-open:consultacenso"]
    assert verification_pause() is None  # verification goes on: no banner


@pytest.mark.django_db
def test_an_answer_never_moves_lookups(both_sources, site, redis, user):
    _, calls = site
    for cedula in (KNOWN_CEDULAS["not_in_census"], KNOWN_CEDULAS["found"]):
        referral = Referral.objects.create(cedula=cedula, referred_by=user)
        assert run(referral, f"t-{cedula}") in (Status.NOT_FOUND, Status.VERIFIED)
    assert calls == ["consultacenso", "consultacenso"]
    assert source_breaker("consultacenso").status().state == "closed"


@pytest.mark.django_db
def test_repeated_failures_move_to_the_next_source_and_the_probe_brings_it_back(
    both_sources, site, redis, user
):
    behaviour, calls = site
    behaviour["consultacenso"] = NetworkError("HTTP 503")
    referral = Referral.objects.create(cedula=KNOWN_CEDULAS["found"], referred_by=user)
    for i in range(3):  # CIRCUIT_FAILURE_THRESHOLD retryable failures in a row
        with pytest.raises(NetworkError):
            verification.verify_referral(referral.pk, f"t{i}")
    assert source_breaker("consultacenso").status().state == "open"
    assert run(referral, "t3") == Status.VERIFIED  # the retry went to wsp
    assert Referral.objects.get(pk=referral.pk).census_source == "wsp"
    # The cool-down ends (ops' "probar ahora" does the same): the next lookup is the probe.
    behaviour["consultacenso"] = None
    source_breaker("consultacenso").half_open_now("test")
    back = Referral.objects.create(cedula="1020304051", referred_by=user)
    assert run(back, "probe") == Status.NOT_FOUND
    assert calls[-1] == "consultacenso"
    assert source_breaker("consultacenso").status().state == "closed"
    keys = set(Alert.objects.values_list("key", flat=True))
    assert {"circuit-open:consultacenso", "circuit-closed:consultacenso"} <= keys


@pytest.mark.django_db
def test_a_confirmed_changed_page_moves_to_the_next_source_instead_of_failing(
    both_sources, site, redis, user
):
    behaviour, _ = site
    changed = PageChangedError("census form #consultaForm not found")
    changed.body = "<html><form id='otro'></form></html>"
    behaviour["consultacenso"] = changed
    referral = Referral.objects.create(cedula=KNOWN_CEDULAS["found"], referred_by=user)
    with pytest.raises(NetworkError):  # the first odd page is retried
        verification.verify_referral(referral.pk, "t1")
    assert run(referral, "t2") == "deferred"  # confirmed: consultacenso's circuit opens
    assert run(referral, "t3") == Status.VERIFIED
    referral.refresh_from_db()
    assert referral.census_source == "wsp" and referral.status == Status.VERIFIED
    assert Alert.objects.filter(key="scraping-PageChangedError:consultacenso").count() == 1
    first = referral.scrape_attempts.order_by("started_at").first()
    assert first.raw_answer == changed.body  # what the site said, kept for maintainers


@pytest.mark.django_db
def test_every_source_open_defers_and_pauses(both_sources, site, redis, user):
    source_breaker("consultacenso").trip("bot block: test")
    assert verification_pause() is None
    assert monitoring.progress_checks()["circuit"] == "ok"  # lookups go on through wsp
    source_breaker("wsp").trip("bot block: test")
    pause = verification_pause()
    assert pause is not None and pause.cause == "circuit" and pause.until > time.time()
    assert monitoring.progress_checks()["circuit"].startswith("degraded: open on every source")
    referral = Referral.objects.create(cedula=KNOWN_CEDULAS["found"], referred_by=user)
    assert run(referral, "t1") == "deferred"
    assert site[1] == []  # no lookup at all


def test_raw_answers_are_capped_and_carry_no_captcha_token():
    token = "03AFcWeA" + "Ab_-9" * 20
    result = CensusResult(
        cedula="1",
        status=CensusStatus.FOUND,
        raw={"captchaToken": token, "html": "x" * 50_000, "g-recaptcha-response": "abcdefgh" * 4},
    )
    text = verification.raw_answer(result, None)
    assert token not in text and "abcdefgh" * 4 not in text and "[redacted]" in text
    assert len(text) == verification.RAW_ANSWER_CAP
    error = BotDetectedError("blocked")
    error.body = f"token={token}&x=1"
    assert token not in verification.raw_answer(None, error)


@pytest.mark.django_db
def test_the_canary_saves_the_page_and_alerts_once_per_drift(both_sources, redis, settings):
    drifted = SourceProbe(
        "wsp",
        "https://wsp.registraduria.gov.co/censo/consultar/",
        "changed",
        ["#nuip not found"],
        html="<html>" + "y" * 300_000,
    )
    fine = SourceProbe("consultacenso", settings.SCRAPING.url, "ok", site_key="k")
    canary.run(lambda: [fine, drifted])
    canary.run(lambda: [fine, drifted])
    assert CensusPageSnapshot.objects.filter(source="wsp").count() == 2
    assert len(CensusPageSnapshot.objects.first().html) == canary.SNAPSHOT_CAP
    assert Alert.objects.filter(key="census-drift:wsp", resolved_at__isnull=True).count() == 1
    seen = canary.last_probes()
    assert seen["wsp"]["state"] == "changed" and seen["consultacenso"]["state"] == "ok"
    canary.run(lambda: [fine, dataclasses.replace(drifted, state="ok", problems=[], html="")])
    assert not Alert.objects.filter(key="census-drift:wsp", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_ops_shows_each_source_and_probes_the_one_asked(both_sources, redis, client, staff_user):
    client.force_login(staff_user)
    source_breaker("wsp").trip("bot block: test")
    body = client.get(reverse("ops-dashboard")).content.decode()
    assert 'data-source="consultacenso"' in body and 'data-source="wsp"' in body
    assert body.count('data-testid="probe-now"') == 1  # only the open one
    client.post(reverse("ops-probe-now"), {"source": "wsp"})
    assert source_breaker("wsp").status().state == "half_open"


@pytest.mark.django_db
def test_the_source_shows_on_the_detail_page_and_in_the_export(user_client, user):
    referral = Referral.objects.create(
        cedula="1020304050",
        referred_by=user,
        status=Status.VERIFIED,
        census_status="found",
        municipio="SINCELEJO",
        census_source="wsp",
    )
    detail = user_client.get(referral.get_absolute_url()).content.decode()
    assert 'data-source="wsp"' in detail and "wsp.registraduria.gov.co" in detail
    export = b"".join(user_client.get(reverse("referrals:export")).streaming_content)
    header, row = (line.split(";") for line in export.decode("utf-8-sig").splitlines()[:2])
    assert row[header.index("Fuente")] == "wsp.registraduria.gov.co (formulario anterior)"


# --- the real thing ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.browser
def test_consultacenso_blocked_referrals_verified_through_wsp_then_back_after_the_cooldown(
    start_worker, pipeline_env, simulator, user, settings
):
    settings.SCRAPING = dataclasses.replace(settings.SCRAPING, sources=BOTH)
    cooldown = 20
    simulator.control.set_fault("bot_block", source="consultacenso")
    start_worker(
        env=pipeline_env(CENSUS_SOURCES="consultacenso,wsp", CIRCUIT_COOLDOWN=cooldown),
        name="failover",
    )
    cedulas = [
        KNOWN_CEDULAS["found"],
        KNOWN_CEDULAS["not_in_census"],
        KNOWN_CEDULAS["found_lowercase"],
    ]
    referrals = [Referral.objects.create(cedula=c, referred_by=user) for c in cedulas]
    blocked_at = time.monotonic()
    for referral in referrals:
        dispatch.publish_verification(referral.pk)
    wait_for(
        lambda: not Referral.objects.filter(status__in=Status.in_flight()).exists(),
        timeout=90,
        message="the referrals answered through wsp",
    )
    for referral in Referral.objects.filter(pk__in=[r.pk for r in referrals]):
        assert referral.status in (Status.VERIFIED, Status.NOT_FOUND), referral.last_error
        assert referral.census_source == "wsp" and referral.attempts == 1
    # consultacenso saw one blocked page load, then nothing; every consulta went to wsp.
    assert {e["source"] for e in simulator.control.log()} == {"wsp"}
    blocked = ScrapeAttempt.objects.filter(outcome="blocked")
    assert list(blocked.values_list("source", flat=True)) == ["consultacenso"]
    assert "rejected" in blocked.get().raw_answer.lower()
    assert Alert.objects.filter(key="circuit-open:consultacenso").exists()

    # The block ends; after the cool-down the next referral is the probe, and goes back.
    simulator.control.clear_faults()
    assert source_breaker("consultacenso").status().state == "open"
    wait_for(
        lambda: source_breaker("consultacenso").status().state != "open",
        timeout=cooldown + 5,
        message="consultacenso's cool-down to end",
    )
    assert time.monotonic() - blocked_at >= cooldown - 1
    back = Referral.objects.create(cedula="1020304099", referred_by=user)
    dispatch.publish_verification(back.pk)
    wait_for(
        lambda: Referral.objects.get(pk=back.pk).status not in Status.in_flight(),
        timeout=60,
        message="the probe's referral answered",
    )
    back.refresh_from_db()
    assert back.census_source == "consultacenso", back.last_error
    # The worker stores the answer first, then closes the circuit and says so: wait for that.
    wait_for(
        lambda: Alert.objects.filter(key="circuit-closed:consultacenso").exists(),
        timeout=10,
        message="the circuit-closed alert after the probe's answer",
    )
    assert source_breaker("consultacenso").status().state == "closed"
    assert simulator.control.log()[-1]["source"] == "consultacenso"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.browser
def test_the_canary_beat_job_catches_a_changed_page_without_consulta_or_solve(
    start_worker, pipeline_env, simulator, redis
):
    simulator.control.set_fault("markup_changed", source="wsp")
    start_worker(env=pipeline_env(CENSUS_SOURCES="consultacenso,wsp"), name="canary")
    dispatch.send(dispatch.PROBE_CENSUS_SOURCES)
    wait_for(
        lambda: redis.get(canary.PROBE_KEY.format(source="wsp")) is not None,
        timeout=60,
        message="the canary's look at wsp",
    )
    wsp = json.loads(redis.get(canary.PROBE_KEY.format(source="wsp")))
    consultacenso = json.loads(redis.get(canary.PROBE_KEY.format(source="consultacenso")))
    assert consultacenso["state"] == "ok" and consultacenso["site_key"]
    assert wsp["state"] == "changed" and wsp["snapshot"]
    snapshot = CensusPageSnapshot.objects.get(pk=wsp["snapshot"])
    assert "documento_nuip" in snapshot.html  # the renamed field, for the maintainer
    assert Alert.objects.filter(key="census-drift:wsp").count() == 1
    counters = simulator.control.state()["counters"]
    assert counters.get("consultas", 0) == 0
    assert counters.get("solver_submits", 0) == 0 and counters.get("widget_tokens", 0) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("waiting_on", ["our rate slot", "the page"])
def test_a_soft_time_limit_in_our_own_pacing_costs_no_attempt_and_no_circuit_failure(
    waiting_on, mocker, redis, user
):
    """The run's soft limit lands while the lookup waits: for its rate slot (held by our other
    lookups, or by a killed worker's consulta until its hold ends) it is a deferral like a
    missed slot; on the page it is the site's failure, retried and counted by its circuit."""
    from celery.exceptions import SoftTimeLimitExceeded

    from scraping.client import CancelledLookup
    from scraping.errors import LookupCancelled
    from scraping.ratelimit import SlotWaitCancelled

    ended_with = {
        "our rate slot": SlotWaitCancelled("waited for a rate slot", retry_after=4.0),
        "the page": LookupCancelled("cancelled before its captcha solve"),
    }[waiting_on]
    mocker.patch("scraping.client.lookup_cedula", side_effect=SoftTimeLimitExceeded())
    mocker.patch("scraping.client.cancel_lookup", return_value=CancelledLookup(True, ended_with))
    referral = Referral.objects.create(cedula=KNOWN_CEDULAS["found"], referred_by=user)
    failures_before = int(redis.get(source_breaker("consultacenso").failures_key) or 0)
    if waiting_on == "our rate slot":
        with pytest.raises(verification.Deferred) as deferred:
            verification.verify_referral(referral.pk, "t1")
        assert 4.0 <= deferred.value.countdown <= 6.0  # the slot's hold, plus jitter
        expected = (0, 0, 0)  # attempts, attempt rows, circuit failures
    else:
        with pytest.raises(NetworkError, match="soft time limit"):
            verification.verify_referral(referral.pk, "t1")
        expected = (1, 1, 1)
    referral.refresh_from_db()
    assert referral.status == Status.RETRYING
    failures = int(redis.get(source_breaker("consultacenso").failures_key) or 0)
    assert (
        referral.attempts,
        referral.scrape_attempts.count(),
        failures - failures_before,
    ) == expected


@pytest.mark.django_db
def test_a_soft_time_limit_while_the_answer_is_stored_is_retried_and_settled(
    site, mocker, redis, user
):
    """Celery's soft limit may land anywhere; after the lookup it is our bookkeeping that ran
    late (seen on a loaded machine): a retryable error, and the next try settles the referral,
    never an unexpected task failure that leaves it to the stale sweep."""
    from celery.exceptions import SoftTimeLimitExceeded

    referral = Referral.objects.create(cedula=KNOWN_CEDULAS["found"], referred_by=user)
    answered = verification._answered
    mocker.patch.object(verification, "_answered", side_effect=SoftTimeLimitExceeded())
    with pytest.raises(verification.RunOutOfTime):
        verification.verify_referral(referral.pk, "t1")
    assert isinstance(verification.RunOutOfTime("x"), NetworkError)  # in autoretry_for
    referral.refresh_from_db()
    assert referral.status == Status.RETRYING and not referral.claimed_at  # handed back
    assert not redis.exists(verification.run_lock_name(referral.pk))  # the lock is free
    mocker.patch.object(verification, "_answered", side_effect=answered)
    assert run(referral, "t2") == Status.VERIFIED  # the retry claims it again and settles it
    attempts = referral.scrape_attempts.order_by("started_at").values_list("outcome", "error_class")
    assert list(attempts) == [("retry", "RunOutOfTime"), ("found", "")]  # not a lost worker
    assert not redis.get(source_breaker("consultacenso").failures_key)
