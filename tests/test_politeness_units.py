"""The global rate gap and the circuit breaker, against real Redis."""

import itertools
import threading
import time

from scraping.circuit import CircuitBreaker, CircuitState
from scraping.ratelimit import RateSlots


def test_one_slot_per_interval_across_callers(redis):
    slots = [RateSlots(redis, interval=0.2, limiter_key="egress-a") for _ in range(3)]
    taken = []  # (before, after) around each SET that took a slot: it happened in between

    def stamped(try_acquire):
        def call():
            before = time.monotonic()
            wait = try_acquire()
            if wait == 0.0:
                taken.append((before, time.monotonic()))
            return wait

        return call

    def take(limiter):
        limiter.try_acquire = stamped(limiter.try_acquire)
        for _ in range(4):
            assert limiter.acquire(max_wait=5)

    threads = [threading.Thread(target=take, args=(s,)) for s in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 12
    # Two slots taken at moments s1 < s2 inside their windows: s2 - s1 <= after2 - before1.
    # So each pair's wider bound is at least the interval, whatever a busy machine adds around
    # the SET (stamps taken after acquire() returned failed that way on saturated cores).
    for (b1, a1), (b2, a2) in itertools.combinations(taken, 2):
        assert max(a2 - b1, a1 - b2) >= 0.19, ((b1, a1), (b2, a2))
    # Busy callers lose little: 12 slots of 0.2 s take about 2.2 s, not a poll or an interval
    # more each (3.4 s and up); a loaded machine adds its wake-up delays (2.74 s seen).
    span = max(a for _, a in taken) - min(b for b, _ in taken)
    assert span < 2.2 * 1.4, span


def test_distinct_egress_keys_do_not_share_the_gap(redis):
    a = RateSlots(redis, interval=10, limiter_key="proxy-a")
    b = RateSlots(redis, interval=10, limiter_key="proxy-b")
    assert a.try_acquire() == 0.0
    assert b.try_acquire() == 0.0
    wait = a.try_acquire()
    assert 9 < wait <= 10
    assert not a.acquire(max_wait=0.1)


def test_the_gap_counts_from_the_end_of_the_consulta(redis):
    # A slot is held while its consulta is out: nobody behind the same address gets one until
    # the answer is back, and then only `interval` later, however long the consulta took.
    first = RateSlots(redis, interval=0.3, limiter_key="egress-a", hold=5)
    second = RateSlots(redis, interval=0.3, limiter_key="egress-a", hold=5)
    release = first.wait_for_slot(1)
    assert not second.acquire(max_wait=0.6)  # the consulta is out (longer than the interval)
    release()
    released = time.monotonic()
    assert second.acquire(max_wait=2)
    assert 0.25 <= time.monotonic() - released < 0.45


def test_a_dead_holders_slot_frees_after_its_hold(redis):
    dead = RateSlots(redis, interval=0.2, limiter_key="egress-a", hold=0.5)
    assert dead.try_acquire() == 0.0  # and its process dies: release() never comes
    started = time.monotonic()
    assert RateSlots(redis, interval=0.2, limiter_key="egress-a", hold=0.5).acquire(max_wait=3)
    assert 0.6 <= time.monotonic() - started < 1.0


def test_a_release_after_the_hold_ran_out_leaves_the_next_holder_alone(redis):
    slow = RateSlots(redis, interval=0.1, limiter_key="egress-a", hold=0.1)
    slow.try_acquire()
    time.sleep(0.25)
    nxt = RateSlots(redis, interval=5, limiter_key="egress-a", hold=5)
    assert nxt.try_acquire() == 0.0
    slow.release()  # late: must not cut the next holder's slot short
    assert redis.pttl("scraping:slot:egress-a") > 9000


def breaker(redis, **kw):
    options = {"cooldown": 0.5, "failure_threshold": 3, "probe_lease": 5} | kw
    return CircuitBreaker(redis, **options)


def test_bot_block_opens_once_then_half_open_admits_one_probe(redis):
    cb = breaker(redis)
    assert cb.allow("t1") == (True, 0.0)
    assert cb.trip("bot block") is True
    assert cb.trip("bot block again") is False  # one opening, one alert
    allowed, wait = cb.allow("t2")
    assert not allowed and 0 < wait <= 0.5
    assert cb.status().state is CircuitState.OPEN
    time.sleep(0.55)
    assert cb.status().state is CircuitState.HALF_OPEN
    assert cb.allow("probe")[0] is True
    assert cb.allow("other")[0] is False
    assert cb.allow("probe")[0] is True  # the probe's own retry may go on
    assert cb.record_success("probe") is True
    assert cb.status().state is CircuitState.CLOSED
    assert cb.allow("other")[0] is True


def test_consecutive_failures_trip_and_success_resets_the_count(redis):
    cb = breaker(redis)
    assert cb.record_failure("503") is False
    assert cb.record_failure("503") is False
    cb.record_success("t1")
    assert cb.record_failure("503") is False
    assert cb.record_failure("503") is False
    assert cb.record_failure("503") is True
    assert cb.status().state is CircuitState.OPEN


def test_failed_probe_reopens_without_a_second_alert(redis):
    cb = breaker(redis, cooldown=0.2)
    assert cb.trip("block")
    time.sleep(0.25)
    assert cb.allow("probe")[0]
    assert cb.record_failure("still failing") is False  # re-opened silently
    assert cb.status().state is CircuitState.OPEN
