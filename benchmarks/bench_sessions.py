"""Eight officers at once (issue 24): budget moves in 8 signed-in browser sessions of one server, against one.

Starts the test OpenID Connect provider (``tests/oidc_provider.py``) and ``streamlit run app.py``
in team mode (``[auth]`` for that provider, ``[roles]`` listing ``--sessions`` officers; as
``bench_browser.py`` does: generated applications as every session's starting set, a store of
its own), signs each officer in through ``st.login`` in a browser context of their own (own
cookies: own Streamlit session and working draft), opens the Allocation page, and times a Fund budget move (one keyboard step) until it has
*settled* (the last script run after the move finished and the browser drew it; read from
Streamlit's websocket protocol, ``bench_browser.Runs``):

* alone: one session moves while the others stay idle (``--moves`` times);
* together: every session moves at the same moment (``--moves`` rounds), each timed from its own
  key press.

Prints the median and p95 of both and their ratio; the target is a p95 under 2 s together. Set
``OPENBLAS_NUM_THREADS=1`` on this shared machine. Run:
``python benchmarks/bench_sessions.py [--sessions 8] [--n 200] [--moves 10]``. No figure here is
asserted anywhere in the tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_browser import Runs, served, slider_thumb, wait_ready  # noqa: E402
from browser_support import free_port, sign_in, start_oidc_provider, stop, team_secrets  # noqa: E402

TARGET_P95_S = 2.0


def settle_all(pages, runs, t0s, n0s, quiet_s: float, timeout_s: float = 300.0) -> list[float]:
    """Settled time of each page [s from its own key press]."""
    done: dict[int, float] = {}
    deadline = time.perf_counter() + timeout_s
    while len(done) < len(pages) and time.perf_counter() < deadline:
        pages[0].wait_for_timeout(15)          # drives the event loop of every page
        now = time.perf_counter()
        for i, r in enumerate(runs):
            if i not in done and len(r.finished) > n0s[i] and now - r.finished[-1] >= quiet_s:
                done[i] = r.finished[-1] - t0s[i]
    if len(done) < len(pages):
        raise TimeoutError("a session did not settle")
    return [done[i] for i in range(len(pages))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--moves", type=int, default=10)
    p.add_argument("--quiet", type=float, default=0.4, help="quiet period after the last run [s]")
    args = p.parse_args(argv)
    alone: list[float] = []
    together: list[float] = []
    officers = [f"officer{i + 1}@agency.go.kr" for i in range(args.sessions)]
    app_port, idp_port = free_port(), free_port()
    idp = start_oidc_provider(idp_port)
    try:
        with tempfile.TemporaryDirectory() as d:
            secrets = team_secrets(Path(d) / "secrets.toml", app_port, idp_port, {"officer": officers})
            with served(args.n, app_port, ("--secrets.files", str(secrets))) as (browser, url):
                pages, runs = [], []
                for email in officers:
                    _, pg = sign_in(browser, url, email, viewport=(1500, 1000), timeout_ms=600_000)
                    pg.wait_for_selector("text=Signed in as", timeout=600_000)
                    r = Runs(pg)
                    pg.goto(f"{url}/allocation")
                    pg.locator('[data-testid="stMetric"]', has_text="Allocated").first.wait_for(timeout=300_000)
                    wait_ready(pg, r, args.quiet)
                    pages.append(pg)
                    runs.append(r)
                print(f"server {url}; applications: {args.n}; signed-in sessions: {args.sessions}; "
                      f"moves: {args.moves}", flush=True)
                thumbs = [slider_thumb(pg, "Fund budget") for pg in pages]
                for j in range(args.moves):            # one session alone, the others idle
                    thumbs[0].focus()
                    n0, t0 = len(runs[0].finished), time.perf_counter()
                    thumbs[0].press("ArrowLeft" if j % 2 == 0 else "ArrowRight")
                    alone += settle_all(pages[:1], runs[:1], [t0], [n0], args.quiet)
                for j in range(args.moves):            # every session at the same moment
                    key = "ArrowLeft" if j % 2 == 0 else "ArrowRight"
                    for th in thumbs:
                        th.focus()
                    n0s = [len(r.finished) for r in runs]
                    t0s = []
                    for th in thumbs:
                        t0s.append(time.perf_counter())
                        th.press(key)
                    together += settle_all(pages, runs, t0s, n0s, args.quiet)
    finally:
        stop(idp)
    med1, p95_1 = statistics.median(alone), float(np.percentile(alone, 95))
    medn, p95_n = statistics.median(together), float(np.percentile(together, 95))
    print(f"{'budget move, settled':<34}{'median [s]':>11}{'p95 [s]':>9}")
    print(f"{'one session (others idle)':<34}{med1:>11.3f}{p95_1:>9.3f}")
    print(f"{f'{args.sessions} sessions at once':<34}{medn:>11.3f}{p95_n:>9.3f}")
    print(f"ratio to one session: median {medn / med1:.2f}x, p95 {p95_n / p95_1:.2f}x; "
          f"p95 / target ({TARGET_P95_S:.1f} s) = {p95_n / TARGET_P95_S:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
