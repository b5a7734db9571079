"""Country outlines for the Allocation page's map (Natural Earth 1:110m, served as a static file).

The outlines are served once by Streamlit's static file serving (``static/``) and cached by the
browser; the chart itself carries only the funding per country, joined to the outlines in the
browser by ISO3 code, so a slider move re-sends a few hundred bytes, not the 160 KB of outlines.
Source and licence: ``evaluator/data/SOURCES.md`` (world_countries_110m.geojson).
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

OUTLINES = Path(__file__).resolve().parent.parent / "static" / "world_countries_110m.geojson"
#: Where the browser fetches the outlines (Streamlit serves ``static/`` under ``app/static/``).
OUTLINES_URL = "app/static/world_countries_110m.geojson"


def funding_map(by_country: dict[str, float], unit: str, title_country: str, title_funding: str,
                names: dict[str, str] | None = None) -> alt.Chart:
    """Choropleth of the funding per host country [``unit``]; unfunded countries grey.

    ``names`` (ISO3 -> the country in the officer's language) words the tooltip; a country it does not
    name keeps the outlines' own (English) name."""
    names = dict(names or {})
    codes = list(dict.fromkeys([*by_country, *names]))
    totals = pd.DataFrame({"iso_a3": codes, "total": [float(by_country.get(c, 0.0)) for c in codes],
                           "country": [names.get(c, "") for c in codes]})
    if totals.empty:
        totals = pd.DataFrame({"iso_a3": ["-"], "total": [0.0], "country": [""]})
    outlines = alt.Data(url=OUTLINES_URL, format=alt.DataFormat(property="features", type="json"))
    return alt.Chart(outlines).mark_geoshape(stroke="white", strokeWidth=0.4).transform_lookup(
        lookup="properties.iso_a3", from_=alt.LookupData(data=totals, key="iso_a3", fields=["total", "country"]),
        default="0",
    ).transform_calculate(
        total="toNumber(datum.total)",
        country="datum.country && datum.country != '0' ? datum.country : datum.properties.name",
    ).encode(
        color=alt.condition("datum.total > 0", alt.Color("total:Q", title=unit, scale=alt.Scale(scheme="blues")),
                            alt.value("#e5e8ec")),
        tooltip=[alt.Tooltip("country:N", title=title_country),
                 alt.Tooltip("total:Q", title=title_funding, format=",.1f")],
    ).project("equalEarth").properties(height=380)
