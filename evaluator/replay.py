"""Replay: recompute a saved scenario through the pipeline and compare it with what was saved
(split from :mod:`evaluator.record`, issue 26, so that the record, which the pipeline writes, does
not import the pipeline)."""

from __future__ import annotations

from evaluator.record import (
    MONEY_DECIMALS,
    ReplayError,
    _allocation_records,
    figures_key,
    results_hash,
    saved_inputs,
)


def replay(saved, ref, file_of=None) -> dict:
    """Recompute a saved scenario with the same applications, assumptions, locks, customs basis,
    solver limit and simulation, and compare the allocation with the one saved.

    Returns
    -------
    dict
        ``scenario_id``, ``matches_saved`` (bool), ``differences`` (list of
        ``{id, field, saved, replayed}`` and of ``{what, saved, replayed}`` for the hashes),
        ``allocation`` (records of the replay), ``results_hash`` and ``saved_results_hash``.
    """
    from evaluator import pipeline
    from evaluator.customs import CustomsError, read_comtrade

    loaded, scenario, _, locks, customs = saved_inputs(saved, ref, file_of)
    record = saved.record or {}
    customs_import = None
    if customs is not None:
        try:
            customs_import = read_comtrade(customs[1], filename=customs[0], ref=ref)
        except (CustomsError, ValueError) as exc:
            raise ReplayError(f"scenario {saved.id}: its customs extract cannot be read: {exc}") from None
    result = pipeline.run(loaded.applications, scenario, ref, customs=customs_import,
                          locked_in=locks.get("must_fund", ()), locked_out=locks.get("must_not_fund", ()),
                          time_limit_s=max(float(record.get("time_limit_s") or 10.0), 10.0),
                          n_paths=int(record.get("n_paths") or pipeline.DEFAULT_SIMULATION_PATHS),
                          seed=int(record.get("seed") or 0))
    now = _allocation_records(result.allocation.table)
    before = _allocation_records(saved.allocation)
    differences = []
    by_id = {r["id"]: r for r in before}
    for r in now:
        s = by_id.pop(r["id"], None)
        for field in ("fund_krw_bn", "loan_krw_bn", "selected"):
            if s is None or s[field] != r[field]:
                differences.append({"id": r["id"], "field": field, "saved": None if s is None else s[field],
                                    "replayed": r[field]})
    for app_id, s in by_id.items():
        differences.append({"id": app_id, "field": "selected", "saved": s["selected"], "replayed": None})
    replayed_hash = results_hash(result.allocation.table)
    saved_hash = record.get("results_hash") or results_hash(saved.allocation)
    if not differences and replayed_hash != saved_hash:
        differences.append({"what": "results_hash", "saved": saved_hash, "replayed": replayed_hash})
    figures = figures_key(loaded.applications, scenario, locks.get("must_fund", ()), locks.get("must_not_fund", ()))
    if record.get("figures") and record["figures"] != figures:
        differences += [{"what": f"figures.{k}", "saved": record["figures"].get(k), "replayed": v}
                        for k, v in figures.items() if record["figures"].get(k) != v]
    return {"scenario_id": saved.id, "matches_saved": not differences, "differences": differences,
            "allocation": now, "results_hash": replayed_hash, "saved_results_hash": saved_hash,
            "funded": {"count": sum(r["selected"] for r in now),
                       "fund_krw_bn": round(sum(r["fund_krw_bn"] for r in now if r["selected"]), MONEY_DECIMALS),
                       "loan_krw_bn": round(sum(r["loan_krw_bn"] for r in now if r["selected"]), MONEY_DECIMALS)}}
