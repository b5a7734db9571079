"""Time the Excel report for 1,000 applications with live cash-flow sheets for the top 50.

Target: the report builds in under 10 s (a committee pack for a large call must not stall the
app). The applications are the 27 samples, each copied and perturbed (grade, capex, opex,
throughput) with a fixed seed. Prints the time of each step and the ratio to the target.

Run: ``python benchmarks/bench_report.py [--n 1000] [--top 50] [--repeat 3]``
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # NOTES.md: shared machine, timings swing otherwise

import argparse
import statistics
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluator.evaluate import evaluate  # noqa: E402
from evaluator.reference import load_reference  # noqa: E402
from benchmarks.samples import perturbed_apps  # noqa: E402
from evaluator.report import build_report  # noqa: E402
from models.scenario import default_scenario  # noqa: E402

TARGET_S = 10.0


def generate(n: int, ref, seed: int = 7):
    return perturbed_apps(n, ref, seed=seed)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--top", type=int, default=50)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    ref = load_reference()
    scenario = default_scenario()
    apps = generate(args.n, ref)
    t0 = time.perf_counter()
    ev = evaluate(apps, scenario, ref)
    t_eval = time.perf_counter() - t0
    top = list(ev.metrics["npv_usd_m"].sort_values(ascending=False).index[: args.top])

    times, size = [], 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        data = build_report(ev, scenario, cashflow_ids=top, ref=ref)
        times.append(time.perf_counter() - t0)
        size = len(data)
    med = statistics.median(times)
    print(f"applications: {args.n}, cash-flow sheets: {len(top)}, periods max: {ev.cashflows.n_periods}")
    print(f"evaluate (not part of the target): {t_eval:.3f} s")
    print(f"build_report: median {med:.3f} s over {args.repeat} runs (min {min(times):.3f}, max {max(times):.3f}); "
          f"{size / 2**20:.2f} MiB")
    print(f"target {TARGET_S:.1f} s: ratio {med / TARGET_S:.2f} ({'within' if med <= TARGET_S else 'OVER'} target)")
    return 0 if med <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
