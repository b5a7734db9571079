"""Country outlines for the Allocation page's map (Natural Earth 1:110m, shipped as GeoJSON)."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import streamlit as st

OUTLINES = Path(__file__).resolve().parent.parent / "evaluator" / "data" / "world_countries_110m.geojson"


@st.cache_data(show_spinner=False)
def world_outlines() -> dict:
    """The GeoJSON feature collection (properties ``iso_a3``, ``name``); source in SOURCES.md."""
    return json.loads(OUTLINES.read_text(encoding="utf-8"))


def funding_map(by_country: dict[str, float], unit: str, title_country: str, title_funding: str) -> alt.Chart:
    """Choropleth of the funding per host country [``unit``]; unfunded countries grey."""
    feats = []
    for f in world_outlines()["features"]:
        p = dict(f["properties"])
        p["total"] = float(by_country.get(p["iso_a3"], 0.0))
        feats.append({**f, "properties": p})
    return alt.Chart(alt.Data(values=feats)).mark_geoshape(stroke="white", strokeWidth=0.4).encode(
        color=alt.condition("datum.properties.total > 0",
                            alt.Color("properties.total:Q", title=unit, scale=alt.Scale(scheme="blues")),
                            alt.value("#e5e8ec")),
        tooltip=[alt.Tooltip("properties.name:N", title=title_country),
                 alt.Tooltip("properties.total:Q", title=title_funding, format=",.1f")],
    ).project("equalEarth").properties(height=380)
