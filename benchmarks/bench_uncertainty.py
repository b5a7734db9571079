"""Benchmark of ``evaluator.uncertainty.simulate`` on generated applications.

Run: ``python benchmarks/bench_uncertainty.py [--quick]`` from the repository root. Targets (brief):
200 applications x 10,000 paths x ~30 years < 1 s; 1,000 applications < 5 s; peak memory
< 1.5 GB; both with the default settings (IRR percentiles on ``DEFAULT_IRR_PATHS`` paths), and
200 applications also without IRR. Prints the median and best of the warm calls and the cold
first call (this VM's timings swing by 10-20 % between calls), the ratio median / target, peak
memory (tracemalloc of a separate call, and ru_maxrss of the process) and the speed-up against
the tiled reference path (``simulate(method="reference")``) and a per-path loop over the
deterministic model (a few hundred paths of each timed, then extrapolated linearly; the
reference's IRR subsample is counted at every path, so its figure for ``irr_paths > 0`` is an
upper bound). ``simulate`` uses the machine's second core (a second thread shares the batches
of projects); the baselines run on one thread, and the figure "one core" times ``simulate``
with its second thread off.
"""

import os

# One BLAS thread, or timings swing fourfold on the shared machine (NOTES.md).
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.samples import perturbed_apps  # noqa: E402
from evaluator import cashflow, finance, uncertainty  # noqa: E402
from evaluator.evaluate import discount_rates  # noqa: E402
from evaluator.reference import load_reference  # noqa: E402
from models.scenario import default_scenario  # noqa: E402

#: Operating years of every generated project: with the samples' 1-4 construction years the
#: projects run 29-32 years (the brief's "30 years").
LIFE_YEARS = 28


def make_apps(n: int, ref, seed: int = 0):
    """``n`` applications: the sample projects perturbed (capex, opex, grade, throughput +/- 20 %),
    each operating ``LIFE_YEARS`` years."""
    return perturbed_apps(n, ref, seed=seed, life_years=LIFE_YEARS)


def loop_baseline(apps, scenario, ref, n_loop_paths: int, seed: int = 0) -> float:
    """Seconds per path of the naive approach: one deterministic model call per path (all
    projects at once, prices drawn for the path), NPV by ``finance.npv``."""
    inputs = cashflow.resolve_inputs(apps, scenario, ref)
    rate, _ = discount_rates(apps, scenario, ref)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(n_loop_paths):
        pm = np.exp(rng.normal(0, 0.3, size=(len(apps), 40)).cumsum(axis=1) * 0.2)
        cf = cashflow.build(inputs, first_year=scenario.first_year, price_multiplier=pm,
                            capex_multiplier=np.exp(rng.normal(0.1, 0.2, len(apps))))
        finance.npv(rate, cf.fcf_usd_m)
    return (time.perf_counter() - t0) / n_loop_paths


def reference_seconds(apps, scenario, ref, n_paths: int, n_ref_paths: int, irr_paths: int) -> float:
    """Seconds of ``simulate(method="reference")`` (tiled ``cashflow.build``) for ``n_paths``,
    extrapolated linearly from a run on ``n_ref_paths`` paths."""
    t0 = time.perf_counter()
    uncertainty.simulate(apps, scenario, ref, n_paths=n_ref_paths, seed=0, irr_paths=min(irr_paths, n_ref_paths),
                         method="reference")
    dt = time.perf_counter() - t0
    return dt * n_paths / n_ref_paths


def timed_runs(apps, scenario, ref, n_paths: int, irr_paths: int, repeats: int, lanes=None) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``simulate`` (no tracing: tracemalloc slows
    numpy's allocations several-fold). The first call is the cold one: it also pays the
    process's first touch of ~0.5 GB of fresh pages."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = uncertainty.simulate(apps, scenario, ref, n_paths=n_paths, seed=0, irr_paths=irr_paths, lanes=lanes)
        times.append(time.perf_counter() - t0)
        assert np.isfinite(r.summary["npv_mean_usd_m"]).all()
    return times


def one_core_seconds(apps, scenario, ref, n_paths: int, irr_paths: int, repeats: int) -> float:
    """Median seconds of ``simulate`` as on a one-core machine (its second thread off): what the
    second core buys. The per-path loop and the tiled reference run on one thread either way."""
    return float(np.median(timed_runs(apps, scenario, ref, n_paths, irr_paths, repeats, lanes=1)))


def peak_memory_mib(apps, scenario, ref, n_paths: int, irr_paths: int) -> float:
    """Peak traced memory [MiB] of one ``simulate`` call (tracemalloc sees numpy's buffers)."""
    tracemalloc.start()
    uncertainty.simulate(apps, scenario, ref, n_paths=n_paths, seed=0, irr_paths=irr_paths)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run(n_apps: int, n_paths: int, ref, scenario, irr_paths: int, n_loop: int, n_ref: int, target_s: float,
        repeats: int = 4) -> None:
    apps = make_apps(n_apps, ref)
    uncertainty.simulate(apps[:5], scenario, ref, n_paths=50)  # warm-up (imports, caches)
    times = timed_runs(apps, scenario, ref, n_paths, irr_paths, repeats)
    cold, warm = times[0], sorted(times[1:]) or times
    best, median = warm[0], warm[len(warm) // 2]
    peak = peak_memory_mib(apps, scenario, ref, n_paths, irr_paths)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    one_core = one_core_seconds(apps, scenario, ref, n_paths, irr_paths, max(1, repeats - 1))
    loop_s = loop_baseline(apps, scenario, ref, n_loop) * n_paths
    ref_s = reference_seconds(apps, scenario, ref, n_paths, n_ref, irr_paths)
    years = np.mean([a.construction_years + a.operating_years for a in apps])
    ok_t = ("OK" if median < target_s else "MISSED") if n_paths == 10_000 else "quick run, not checked"
    ok_m = "OK" if max(peak, rss) < 1536 else "MISSED"
    print(f"{n_apps:5d} apps x {n_paths} paths x {years:.1f} yr (mean life), irr_paths={irr_paths:4d}: "
          f"median {median:5.2f} s, best {best:5.2f} s, cold first call {cold:5.2f} s "
          f"(target < {target_s:g} s: {ok_t}; ratio median/target {median / target_s:4.2f}); "
          f"one core (second thread off) {one_core:5.2f} s; "
          f"peak traced {peak:6.1f} MiB, ru_maxrss {rss:6.1f} MiB (target < 1.5 GB: {ok_m}); "
          f"tiled reference ({n_ref} paths timed) extrapolated {ref_s:6.1f} s -> {ref_s / median:5.1f}x; "
          f"per-path loop ({n_loop} paths timed) extrapolated {loop_s:6.1f} s -> {loop_s / median:5.1f}x",
          flush=True)


def main() -> None:
    ref, scenario = load_reference(), default_scenario()
    quick = "--quick" in sys.argv
    paths = 2000 if quick else 10_000       # the targets are for 10,000 paths
    default_irr = uncertainty.DEFAULT_IRR_PATHS
    run(200, paths, ref, scenario, irr_paths=default_irr, n_loop=200, n_ref=250, target_s=1.0)
    run(200, paths, ref, scenario, irr_paths=0, n_loop=200, n_ref=200, target_s=1.0)
    run(1000, paths, ref, scenario, irr_paths=default_irr, n_loop=100, n_ref=100, target_s=5.0, repeats=3)


if __name__ == "__main__":
    main()
