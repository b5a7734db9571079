"""Generated benchmark instances: the bundled sample applications, perturbed.

One generator for every benchmark script, so their instances are built the same way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from models.loader import load_applications

SAMPLE_CSV = Path(__file__).resolve().parent.parent / "sample_projects" / "applications.csv"


def perturbed_apps(n: int, ref, *, seed: int = 0, spread: float = 0.2, life_years: int | None = None):
    """``n`` applications cycling through the samples, each with throughput, grade, initial capex
    and opex per tonne scaled by independent factors in ``[1 - spread, 1 + spread]``.

    Parameters
    ----------
    life_years : int, optional
        Give every project this many operating years (schedules dropped, reserve enlarged to
        match). Without it, throughput is only scaled down, so throughput x life stays within
        the reserve (an application rule).
    """
    base = load_applications(SAMPLE_CSV, ref=ref).applications
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = base[i % len(base)]
        k = rng.uniform(1 - spread, 1 + spread, size=4)
        changes = dict(id=f"{a.id}-{i:04d}", head_grade=a.head_grade * k[1],
                       initial_capex_usd_m=a.initial_capex_usd_m * k[2], opex_usd_per_t_ore=a.opex_usd_per_t_ore * k[3])
        if life_years is None:
            changes["throughput_mtpa"] = a.throughput_mtpa * min(k[0], 1.0)
        else:
            tput = a.throughput_mtpa * k[0]
            changes.update(throughput_mtpa=tput, mine_life_years=life_years, production_schedule_ore_mt=(),
                           ore_reserve_mt=tput * (life_years + 1))
        out.append(dataclasses.replace(a, **changes))
    return out
