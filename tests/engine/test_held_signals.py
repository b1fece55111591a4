"""The swap's signal holder: a stop waits for the statement under way, is raised between statements by the
process's own handler, and a signal the process ignores stays ignored."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from backup_tui.engine.ops.swap import HeldSignals


class Stop(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise Stop(signum)


@pytest.fixture
def own_handlers() -> Iterator[None]:
    before = {sig: signal.getsignal(sig) for sig in HeldSignals.SIGNALS}
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("own_handlers")
def test_a_stop_waits_for_the_check_and_is_raised_by_its_own_handler() -> None:
    with pytest.raises(Stop), HeldSignals() as held:
        signal.raise_signal(signal.SIGTERM)  # mid-statement: nothing happens yet
        done = True
        held.check()
    assert done
    assert signal.getsignal(signal.SIGTERM) is _stop  # the process's own handler is back


@pytest.mark.usefixtures("own_handlers")
def test_a_stop_taken_by_the_caller_is_not_raised_again_and_one_not_taken_is_raised_at_the_end() -> None:
    with HeldSignals() as held:
        signal.raise_signal(signal.SIGTERM)
        assert held.take() == signal.SIGTERM
    with pytest.raises(Stop), HeldSignals():
        signal.raise_signal(signal.SIGTERM)


@pytest.mark.usefixtures("own_handlers")
def test_a_signal_the_process_ignores_stays_ignored() -> None:
    with HeldSignals() as held:
        signal.raise_signal(signal.SIGHUP)
        held.check()
        assert held.take() == 0
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
