"""The one retry rule (careconnect_ws.backoff), and the four places that use it."""

from __future__ import annotations

import pytest

from careconnect_ws.backoff import Backoff, Jitter


def test_the_delay_doubles_from_the_initial_one_up_to_the_ceiling():
    backoff = Backoff(0.05, 2.0, jitter=Jitter.NONE)
    assert [backoff.delay(n) for n in range(1, 9)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert backoff.delay(0) == 0.05 and backoff.delay(10**6) == 2.0  # no overflow however long it fails


@pytest.mark.parametrize(("jitter", "low", "high"), [(Jitter.NONE, 1.0, 1.0), (Jitter.EQUAL, 0.5, 1.0), (Jitter.FULL, 0.0, 1.0)])
def test_jitter_spreads_each_delay_within_its_range(jitter, low, high):
    backoff = Backoff(1.0, 8.0, jitter=jitter)
    assert backoff.delay(3, draw=lambda: 0.0) == 4.0 * low
    assert backoff.delay(3, draw=lambda: 1.0) == 4.0 * high


@pytest.mark.parametrize("bad", [dict(initial=0, ceiling=1), dict(initial=2, ceiling=1), dict(initial=1, ceiling=2, factor=0.5)])
def test_a_backoff_that_could_not_back_off_is_refused(bad):
    with pytest.raises(ValueError, match="initial <= ceiling"):
        Backoff(**bad)


def test_the_database_reconnect_waits_50_ms_doubling_to_2_s_with_equal_jitter():
    from careconnect_ws.db import RECONNECT_BACKOFF

    assert (RECONNECT_BACKOFF.initial, RECONNECT_BACKOFF.ceiling, RECONNECT_BACKOFF.jitter) == (0.05, 2.0, Jitter.EQUAL)
