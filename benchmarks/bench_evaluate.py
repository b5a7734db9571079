"""Time the full evaluation of 1,000 generated applications x 30 operating years.

Prints the time of ``evaluator.evaluate.evaluate`` (cash flows + NPV, IRR, payback, PI, loan
schedule, DSCR, LLCR for every project) and the IRR/NPV step alone, each as a ratio against a
per-project loop of ``numpy_financial.npv`` + ``numpy_financial.irr`` on the same cash flows.

Targets (issue 2): full evaluation under 0.25 s on a 2-core machine; IRR at least 30x faster
than the numpy-financial loop.

Run: ``python benchmarks/bench_evaluate.py [N]``
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # timings swing fourfold on a shared machine otherwise

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import numpy_financial as npf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.samples import perturbed_apps  # noqa: E402
from evaluator import finance  # noqa: E402
from evaluator.evaluate import evaluate  # noqa: E402
from evaluator.reference import load_reference  # noqa: E402
from models.scenario import default_scenario  # noqa: E402

TARGET_S = 0.25
TARGET_IRR_SPEEDUP = 30.0


def generate(n: int, seed: int = 1):
    """``n`` applications: the samples with perturbed size, grade, costs and 30-year lives."""
    ref = load_reference()
    return perturbed_apps(n, ref, seed=seed, spread=0.3, life_years=30), ref


def best_of(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main(n: int = 1000) -> None:
    apps, ref = generate(n)
    scen = default_scenario()
    evaluate(apps, scen, ref)  # warm caches (reference look-ups, imports)
    t_full, t_full_med = best_of(lambda: evaluate(apps, scen, ref))
    ev = evaluate(apps, scen, ref)
    fcf = ev.cashflows.fcf_usd_m
    rates = ev.metrics["discount_rate"].to_numpy()

    t_vec, _ = best_of(lambda: (finance.npv(rates, fcf), finance.irr(fcf)))
    t_irr, _ = best_of(lambda: finance.irr(fcf))
    t_irr_loop, _ = best_of(lambda: [npf.irr(row) for row in fcf], repeat=2)

    def loop():
        for i in range(fcf.shape[0]):
            npf.npv(rates[i], fcf[i])
            npf.irr(fcf[i])

    t_loop, _ = best_of(loop, repeat=2)
    irr_vec = finance.irr(fcf)
    irr_ref = np.array([npf.irr(row) for row in fcf])
    both = np.isfinite(irr_vec) & np.isfinite(irr_ref)
    print(f"applications x periods       : {fcf.shape[0]} x {fcf.shape[1]}")
    print(f"full evaluation               : {t_full * 1000:8.1f} ms (median {t_full_med * 1000:.1f} ms); "
          f"target {TARGET_S * 1000:.0f} ms -> ratio {t_full / TARGET_S:.2f} of target")
    print(f"NPV + IRR vectorised          : {t_vec * 1000:8.1f} ms")
    print(f"NPV + IRR numpy-financial loop: {t_loop * 1000:8.1f} ms")
    print(f"speed-up NPV + IRR vs loop    : {t_loop / t_vec:8.1f}x")
    print(f"IRR alone: vectorised {t_irr * 1000:.1f} ms, loop {t_irr_loop * 1000:.1f} ms -> "
          f"{t_irr_loop / t_irr:.1f}x (target >= {TARGET_IRR_SPEEDUP:.0f}x)")
    print(f"full evaluation vs loop       : {t_loop / t_full:8.1f}x")
    # the same comparison on conventional flows (one sign change: outlay, then inflows), where
    # no second root has to be bracketed; the mine rows above mostly carry a closure cost
    rng = np.random.default_rng(7)
    conv = np.concatenate([-rng.uniform(50, 500, (n, 1)), rng.uniform(5, 120, (n, 30))], axis=1)
    t_conv, _ = best_of(lambda: finance.irr(conv))
    t_conv_loop, _ = best_of(lambda: [npf.irr(row) for row in conv], repeat=2)
    print(f"IRR alone, conventional {n} x 31 rows: vectorised {t_conv * 1000:.1f} ms, loop "
          f"{t_conv_loop * 1000:.1f} ms -> {t_conv_loop / t_conv:.1f}x (target >= {TARGET_IRR_SPEEDUP:.0f}x)")
    print(f"IRR agreement with numpy-financial on {both.sum()} rows: max |diff| = "
          f"{np.max(np.abs(irr_vec[both] - irr_ref[both])) if both.any() else float('nan'):.2e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
