"""Background work of the app (app_pages/background.py): one job per session and kind, a new key
cancels the old job between steps, a completed answer is kept for any session, a solver error is
named, not lost."""

import threading
import time

import pytest

pytest.importorskip("streamlit")

from app_pages import background  # noqa: E402
from evaluator.allocation import AllocationError  # noqa: E402


def _open() -> threading.Event:
    e = threading.Event()
    e.set()
    return e


def _steps(gate: threading.Event, values):
    def run(cancel):
        for v in values:
            yield v
            gate.wait(timeout=10)
    return run


def test_a_new_key_cancels_the_old_job_after_its_step_and_keeps_the_answer_done():
    gate = threading.Event()
    old = background.job("probe-cancel", ("k", 1), _steps(gate, [1, 2, 3]))
    deadline = time.monotonic() + 10
    while old.latest is None and time.monotonic() < deadline:   # it has started its first step
        time.sleep(0.01)
    new = background.job("probe-cancel", ("k", 2), _steps(_open(), ["a"]))
    assert old is not new and old.cancel.is_set()
    gate.set()
    old.thread.join(timeout=10)
    new.thread.join(timeout=10)
    assert old.finished and not old.complete and old.latest in (1, 2)   # stopped after its current step
    assert new.finished and new.complete and new.latest == "a"
    # the same kind and key again: the kept answer, no new thread
    assert background.job("probe-cancel", ("k", 2), _steps(_open(), ["b"])) is new
    # the same key is one job while it runs
    g2 = threading.Event()
    a = background.job("probe-same", ("x",), _steps(g2, [1, 2]))
    assert background.job("probe-same", ("x",), _steps(g2, [9])) is a
    g2.set()
    a.thread.join(timeout=10)
    assert a.complete and a.latest == 2


def test_a_job_cancelled_while_it_waits_to_start_never_computes():
    """Rapid slider moves: each move cancels the job of the one before before it takes a core."""
    started = threading.Event()

    def steps(cancel):
        started.set()
        yield 1
    first = background.job("probe-debounce", ("d", 1), steps)
    second = background.job("probe-debounce", ("d", 2), _steps(_open(), ["b"]))
    first.thread.join(timeout=10)
    second.thread.join(timeout=10)
    assert first.finished and not first.complete and first.latest is None and not started.is_set()
    assert second.complete and second.latest == "b"


def test_a_solver_error_is_named_and_ends_the_job():
    def failing(cancel):
        yield "partial"
        raise AllocationError("budget rows conflict")
    job = background.job("probe-error", ("e",), failing)
    job.thread.join(timeout=10)
    assert job.finished and not job.complete
    assert job.error == "budget rows conflict" and job.latest == "partial"
