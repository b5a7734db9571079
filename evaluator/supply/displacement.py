"""Displacement: the import mix after projects' offtake (additions in chain units, displacement rules)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, ReferenceDataError
from evaluator.supply.basis import MineralSupply, baseline
from evaluator.supply.chain import _check_basis, _options, _tables, has_chain, window_volumes
from evaluator.supply.concentration import CHINA, MAGNET_OXIDES


def apply_additions(volumes: pd.Series, additions: Mapping[str, float], rule: str) -> pd.Series:
    """Partner volumes after Korea buys ``additions`` from host countries.

    Parameters
    ----------
    volumes : pandas.Series
        Partner ISO3 -> current imports [t gross or kUSD], >= 0.
    additions : mapping of str to float
        Host ISO3 -> added imports in the same unit, >= 0 (several projects in one host summed).
    rule : {'top_supplier', 'pro_rata', 'additive'}
        ``top_supplier``: the total added volume ``A`` displaces the largest current supplier
        (volume ``V0``) with diminishing returns: it keeps ``V0 exp(-A / V0)``; the part of ``A``
        that displaces nothing adds to imports. The first tonnes displace one for one; the last
        tonnes of the incumbent (specific grades, long contracts, its processing) are the hardest
        to replace, so no finite offtake takes it to zero (ASSUMPTION of this tool, issue 15:
        no single project takes China's share to 0 and the benefit never saturates).
        ``pro_rata``: every current source keeps ``V exp(-A / total)`` (the same law applied to
        the whole mix). ``additive``: nothing is displaced; imports grow by ``A``.
        In all rules the hosts' volumes then grow by their additions (a host that already supplies
        Korea grows). Displacement applies to the volumes *before* the additions, so a project in
        the top supplier itself only raises its share. To first order in ``A`` the rules are the
        one-for-one displacement rules.

    Returns
    -------
    pandas.Series
        New volumes, index = current partners then new hosts; never negative.
    """
    if rule not in ("top_supplier", "pro_rata", "additive"):
        raise ValueError(f"displacement rule must be top_supplier, pro_rata or additive, got {rule!r}")
    v = pd.Series(volumes, dtype=float).fillna(0.0).clip(lower=0.0)
    add = pd.Series({str(k): float(x) for k, x in dict(additions).items()}, dtype=float)
    if (add < 0).any() or add.isna().any():
        raise ValueError("additions must be non-negative numbers")
    out = pd.Series(_displace(v.to_numpy(), float(add.sum()), rule), index=v.index)
    idx = v.index.append(add.index.difference(v.index))
    out = out.reindex(idx, fill_value=0.0).add(add.reindex(idx, fill_value=0.0))
    out.name = "volume"
    return out.clip(lower=0.0)





# ----------------------------------------------------------------------------------------------
# offtake -> additions in chain units, by supplier (the processing country)
# ----------------------------------------------------------------------------------------------
_OFFTAKE_COLS = ("id", "mineral", "country_iso3", "korea_offtake_t_per_year")


def _check_offtake(offtake: pd.DataFrame, value_col: str = "korea_offtake_t_per_year") -> pd.DataFrame:
    df = offtake.reset_index() if "id" not in offtake.columns and offtake.index.name == "id" else offtake
    cols = [c if c != "korea_offtake_t_per_year" else value_col for c in _OFFTAKE_COLS]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"offtake table: missing columns {missing}")
    df = df.copy()
    df["id"] = df["id"].astype(str)
    df["country_iso3"] = df["country_iso3"].astype(str).str.strip().str.upper()
    proc = df["processing_country_iso3"] if "processing_country_iso3" in df.columns else pd.Series(None, index=df.index)
    proc = proc.astype("string").str.strip().str.upper()
    df["supplier_iso3"] = proc.where(proc.notna() & (proc != ""), df["country_iso3"]).astype(str)
    df[value_col] = pd.to_numeric(df[value_col], errors="coerce").fillna(0.0).clip(lower=0.0)
    return df


def element_share(ref: ReferenceData, mineral: str, basket: Sequence[tuple[str, float]] = ()) -> float:
    """Share of a product that can displace Korea's scored chain demand [fraction].

    Rare earths (``element_matching = magnet``): the NdPr + Dy + Tb share of the oxide basket
    (the application's, else ``ree_oxides.default_basket_share``); 1 for other minerals.
    """
    t = _tables(ref)
    if mineral not in t.units.index or str(t.units.at[mineral, "element_matching"]) != "magnet":
        return 1.0
    shares = dict(basket) if basket else ref.ree_oxides["default_basket_share"].to_dict()
    return float(sum(float(shares.get(o, 0.0)) for o in MAGNET_OXIDES))


def _default_factor(ref: ReferenceData, mineral: str) -> float:
    t = _tables(ref)
    if mineral not in t.units.index:
        return 1.0
    return float(t.units.at[mineral, "t_unit_per_t_product"]) * element_share(ref, mineral)


def _unit_value_kusd(ref: ReferenceData, mineral: str) -> float:
    """Average import value of one chain unit over the default window [kUSD / t unit]."""
    q = window_volumes(ref, mineral, basis="quantity").sum()
    v = window_volumes(ref, mineral, basis="value").sum()
    return float(v / q) if q > 0 else float("nan")


def import_units(ref: ReferenceData, df: pd.DataFrame, basis: str, value_col: str) -> pd.Series:
    """Offtake [t product] -> chain units [t unit, element-matched] or [kUSD], one value per row.

    Uses the row's ``chain_t_per_product_t`` (unit factor x element share x stage probability,
    from :func:`offtake_from_evaluation`) when present, else the mineral's default factor.
    """
    _check_basis(basis)
    default = df["mineral"].map({m: _default_factor(ref, m) for m in set(df["mineral"])}).astype(float)
    if "chain_t_per_product_t" in df.columns:
        f = pd.to_numeric(df["chain_t_per_product_t"], errors="coerce").fillna(default)
    else:
        f = default
    units = pd.to_numeric(df[value_col], errors="coerce").fillna(0.0).astype(float) * f
    if basis == "value":
        uv = {m: (_unit_value_kusd(ref, m) if has_chain(ref, m) else 1.0) for m in set(df["mineral"])}
        units = units * df["mineral"].map(uv).astype(float)
    return units


def diversifying_units(ref: ReferenceData, scenario, offtake: pd.DataFrame,
                       value_col: str = "korea_offtake_t_per_year") -> pd.Series:
    """:func:`import_units`, zero where the product is bought from (refined in) the mineral's
    incumbent supplier: such offtake cannot diversify away from it. For the allocator's terms."""
    df = _check_offtake(offtake, value_col) if "id" in offtake.columns or offtake.index.name == "id" else offtake
    opt = _options(scenario)
    units = import_units(ref, df, opt["basis"], value_col)
    inc = {m: baseline(ref, m, basis=opt["basis"], window=opt["window"], case=opt["case"]).incumbent
           for m in set(df["mineral"]) if m in ref.minerals.index}
    supplier = df["supplier_iso3"] if "supplier_iso3" in df.columns else df["country_iso3"]
    return units.where(supplier.to_numpy() != df["mineral"].map(inc).to_numpy(), 0.0)


def additions_by_mineral(ref: ReferenceData, scenario, offtake: pd.DataFrame, ids: Sequence[str] | None = None) -> dict[str, pd.Series]:
    """Added imports per mineral and supplier country [chain units or kUSD], projects summed jointly.

    Parameters
    ----------
    offtake : pandas.DataFrame
        Columns ``id``, ``mineral``, ``country_iso3``, ``korea_offtake_t_per_year`` [t product/yr];
        optional ``processing_country_iso3`` (the supplier; default the host) and
        ``chain_t_per_product_t``.
    ids : sequence of str, optional
        Projects to include; default all rows.

    Returns
    -------
    dict of str to pandas.Series
        mineral -> Series supplier ISO3 -> added volume.
    """
    df = _check_offtake(offtake)
    if ids is not None:
        df = df[df["id"].isin([str(i) for i in ids])]
    if df.empty:
        return {}
    unknown = sorted(set(df["mineral"]) - set(ref.minerals.index))
    if unknown:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown minerals {unknown}")
    df = df.assign(added_units=import_units(ref, df, _options(scenario)["basis"], "korea_offtake_t_per_year"))
    return {m: g.groupby("supplier_iso3")["added_units"].sum() for m, g in df.groupby("mineral", sort=True)}


def _displace_many(v: np.ndarray, total_add: np.ndarray, rule: str) -> np.ndarray:
    """NumPy core of :func:`apply_additions` on the current partners' volumes (no hosts added),
    for several total additions at once: ``(P, K)`` from ``v`` (K,) and ``total_add`` (P,).

    Displacement with diminishing returns: the k-th tonne displaces the displaced volume in
    proportion to what is left of it, ``dV/dA = -V / V0``, so ``V(A) = V0 exp(-A / V0)``
    (``V0`` = the top supplier's volume, or every source's with ``V0 = total`` pro rata).
    """
    if rule not in ("top_supplier", "pro_rata", "additive"):
        raise ValueError(f"displacement rule must be top_supplier, pro_rata or additive, got {rule!r}")
    v = v.astype(float)
    a = np.clip(np.asarray(total_add, dtype=float), 0.0, None)
    out = np.repeat(v[None, :], len(a), axis=0)
    if rule == "additive" or not (v > 0).any():
        return out
    if rule == "top_supplier":
        i = int(np.argmax(v))
        out[:, i] = v[i] * np.exp(-a / v[i])
        return out
    return v[None, :] * np.exp(-a[:, None] / float(v.sum()))


def _displace(v: np.ndarray, total_add: float, rule: str) -> np.ndarray:
    """:func:`_displace_many` for one total addition."""
    return _displace_many(v, np.array([float(total_add)]), rule)[0]


def volumes_after_many(volumes: pd.Series, host_additions: Mapping[str, np.ndarray], rule: str
                       ) -> tuple[list[str], np.ndarray]:
    """:func:`apply_additions` for many cases at once (e.g. simulated paths).

    Parameters
    ----------
    volumes : pandas.Series
        Partner ISO3 -> current imports, >= 0.
    host_additions : mapping of str to numpy.ndarray
        Host (supplier) ISO3 -> added imports per case, shape ``(P,)``, >= 0.
    rule : str
        As :func:`apply_additions`.

    Returns
    -------
    names : list of str
        Current partners, then new hosts.
    volumes : numpy.ndarray
        ``(P, len(names))`` volumes after the additions; never negative.
    """
    v = pd.Series(volumes, dtype=float).fillna(0.0).clip(lower=0.0)
    hosts = [str(h) for h in host_additions]
    P = len(next(iter(host_additions.values()))) if host_additions else 1
    added = np.array([np.asarray(host_additions[h], dtype=float) for h in host_additions]).reshape(len(hosts), P)
    names = list(v.index) + [h for h in dict.fromkeys(hosts) if h not in v.index]
    out = np.zeros((P, len(names)))
    out[:, :len(v)] = _displace_many(v.to_numpy(), added.sum(axis=0), rule)
    for h, row in zip(hosts, added):
        out[:, names.index(h)] += row
    return names, np.clip(out, 0.0, None)


def scenario_options(scenario) -> dict:
    """Basis, window and demand case of the scenario, as :func:`baseline` takes them."""
    return _options(scenario)


def measures_after(base: MineralSupply, added: Mapping[str, float], rule: str, target: float) -> dict:
    """Measures after the additions, plus the incumbent's share and excess over target.

    The same arithmetic as :func:`apply_additions` followed by :func:`measures`, on NumPy arrays:
    it runs once per mineral and year on every slider move, so pandas overhead matters here.
    """
    add = {str(k): float(x) for k, x in added.items()}
    if any(x < 0 or not np.isfinite(x) for x in add.values()):
        raise ValueError("additions must be non-negative numbers")
    partners = list(base.volumes.index)
    names = partners + [h for h in add if h not in base.volumes.index]
    pos = {c: i for i, c in enumerate(names)}
    v = np.clip(np.nan_to_num(base.volumes.to_numpy(dtype=float)), 0.0, None)
    out = np.zeros((1, len(names)))
    out[0, :len(partners)] = _displace(v, float(sum(add.values())), rule)
    for h, x in add.items():
        out[0, pos[h]] += x
    return _measures_of_rows(base, names, out)[0]


def measures_after_each(base: MineralSupply, hosts: Sequence[str], amounts, rule: str) -> list[dict]:
    """:func:`measures_after` of each addition ALONE (``amounts[k]`` at ``hosts[k]``), at once.

    The project score measures every project alone against the same baseline; one matrix (a row
    per addition, a column per partner and new host) replaces a call per project.
    """
    amounts = np.asarray(amounts, dtype=float)
    if amounts.size and (np.any(amounts < 0) or not np.all(np.isfinite(amounts))):
        raise ValueError("additions must be non-negative numbers")
    hosts = [str(h) for h in hosts]
    partners = list(base.volumes.index)
    names = partners + list(dict.fromkeys(h for h in hosts if h not in base.volumes.index))
    pos = {c: i for i, c in enumerate(names)}
    v = np.clip(np.nan_to_num(base.volumes.to_numpy(dtype=float)), 0.0, None)
    out = np.zeros((len(hosts), len(names)))
    out[:, :len(partners)] = _displace_many(v, amounts, rule)
    out[np.arange(len(hosts)), [pos[h] for h in hosts]] += amounts
    return _measures_of_rows(base, names, out)


def _measures_of_rows(base: MineralSupply, names: list[str], out: np.ndarray) -> list[dict]:
    """:func:`measures` (and the incumbent's share, the total volume) of each row of ``out``:
    volumes after additions, one column per name in ``names``."""
    out = np.clip(out, 0.0, None)
    tot = out.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sh = np.where(tot[:, None] > 0, out / tot[:, None], 0.0)
    wgi = base.wgi.reindex(names).fillna(float(base.wgi.median())).to_numpy(dtype=float)
    hp = base.hhi_production
    has_hp = hp is not None and np.isfinite(hp)
    top = sh.argmax(axis=1) if names else np.zeros(len(out), dtype=int)
    pos = {c: i for i, c in enumerate(names)}
    ci, ii = pos.get(CHINA), pos.get(base.incumbent)
    result = []
    for k in range(len(out)):
        r = sh[k]
        if tot[k] <= 0 or not (r > 0).any():     # as measures(): only shares > 0 count
            m = {"china_share": float("nan"), "top_supplier": None, "top_share": float("nan"), "hhi": float("nan"),
                 "hhi_wgi": float("nan"), "geopolrisk": float("nan"), "n_sources": 0}
        else:
            m = {"china_share": float(r[ci]) if ci is not None else 0.0, "top_supplier": names[top[k]],
                 "top_share": float(r[top[k]]), "hhi": float(np.sum(r ** 2)), "hhi_wgi": float(np.sum(r ** 2 * wgi)),
                 "geopolrisk": float(hp) * float(np.sum(r * wgi / 10.0)) if has_hp else float("nan"),
                 "n_sources": int(np.count_nonzero(r > 0))}
        m["incumbent_share"] = (float(out[k, ii] / tot[k]) if ii is not None else 0.0) if tot[k] > 0 else float("nan")
        m["volume"] = float(tot[k])
        result.append(m)
    return result
