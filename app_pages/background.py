"""Work off the slider path: a long computation runs in a thread and the page shows it when ready.

"What it would take" re-solves the allocation once or more per left-out project: seconds, not the
fraction of a second a slider move may take. So the page starts it in a background thread (one
per browser session and kind of work), shows the answers computed so far, and looks again a
moment later; a slider move that changes the allocation cancels the job of the old one (between
chunks) and starts a new one. HiGHS releases the GIL, so the job's solver threads do not hold
up the officer's own reruns beyond sharing the cores.

The jobs are plain objects held by the server process (``st.cache_resource``): the work itself is
a generator from :mod:`evaluator` that knows nothing of Streamlit.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from evaluator.allocation import AllocationError


@dataclass
class Job:
    """One background computation: the latest value its generator yielded, and how it ended."""

    key: Hashable
    latest: Any = None
    finished: bool = False     # the generator returned, failed or was cancelled
    complete: bool = False     # the generator returned: ``latest`` is the whole answer
    error: str | None = None   # a named error of the solver, as the officer reads it
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


#: Completed jobs kept per server process (any session asking for the same kind and key gets
#: the answer at once: e.g. the officer moves a budget back to where it was).
DONE_KEPT = 16


@st.cache_resource(show_spinner=False)
def _jobs() -> tuple[dict, threading.Lock]:
    """(session id, kind) -> Job of this server process, and the lock that guards the dict."""
    return {}, threading.Lock()


@st.cache_resource(show_spinner=False)
def _done() -> collections.OrderedDict:
    """(kind, key) -> completed Job, newest last (at most :data:`DONE_KEPT`)."""
    return collections.OrderedDict()


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


#: A new job waits this long before it computes [s]: while the officer keeps moving a slider,
#: each move cancels the job of the one before it before it has taken a core from the page.
START_DELAY_S = 0.3


def job(kind: str, key: Hashable, steps: Callable[[threading.Event], Iterator[Any]]) -> Job:
    """The job of this session computing ``kind`` for ``key``, started when absent.

    ``steps(cancel)`` is the work: a generator of the values to show, given the job's cancel
    event so that it can stop inside a step. A job of the same session and kind for another key
    (an allocation the officer has moved on from) is cancelled: it stops as soon as its steps
    look at the event, or before its first step when it is still waiting out
    :data:`START_DELAY_S`.
    """
    jobs, lock = _jobs()
    done = _done()
    slot = (_session_id(), kind)
    with lock:
        current = jobs.get(slot)
        if current is not None and current.key == key:
            return current
        if current is not None and not current.finished:
            current.cancel.set()
        if (kind, key) in done:
            done.move_to_end((kind, key))
            jobs[slot] = done[(kind, key)]
            return jobs[slot]
        new = Job(key=key)
        new.thread = threading.Thread(target=_run, args=(new, steps, (kind, key), done, lock),
                                      name=f"background-{kind}", daemon=True)
        jobs[slot] = new
        new.thread.start()
        return new


def _run(job: Job, steps: Callable[[threading.Event], Iterator[Any]], done_key: tuple, done: collections.OrderedDict,
         lock: threading.Lock) -> None:
    try:
        if job.cancel.wait(START_DELAY_S):
            return
        for value in steps(job.cancel):
            job.latest = value
            if job.cancel.is_set():
                return
        if job.cancel.is_set():
            return
        job.complete = True
        with lock:
            done[done_key] = job
            while len(done) > DONE_KEPT:
                done.popitem(last=False)
    except AllocationError as exc:   # a solver failure named for the officer; anything else is a bug
        job.error = str(exc)
    finally:
        job.finished = True
