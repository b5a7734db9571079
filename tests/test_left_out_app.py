"""The Allocation page explains every project left out, in words with the number (issue 27), the
same words and figures as evaluator/left_out.py gives the pack and the CLI."""

import pytest

pytest.importorskip("streamlit")

from app_pages import background  # noqa: E402
from evaluator import pipeline  # noqa: E402
from evaluator.left_out import explain_left_out  # noqa: E402


def _left_out_frame(at):
    """The page's left-out table once its background job is done (AppTest does not poll)."""
    at.switch_page("app_pages/allocation.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = {kind: j for (_, kind), j in background._jobs()[0].items()}["left_out"]
    job.thread.join(timeout=300)
    assert job.complete and job.error is None
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return next(d.value for d in at.dataframe if "Request reduction [KRW bn]" in d.value.columns)


def test_allocation_page_says_what_it_would_take(fresh_app, sample_apps, scenario, ref):
    at = fresh_app
    # the independent figure: the engine's own answer for the samples under the default scenario
    ex = explain_left_out(pipeline.run(sample_apps, scenario, ref).allocation, scenario, ref, ids=["MZ-GR-01"])
    s = float(ex.at["MZ-GR-01", "entry_support_krw_bn"])
    assert 0 < s < 32.0
    view = _left_out_frame(at)
    row = view.loc["MZ-GR-01"]
    assert row["Would be funded at [KRW bn]"] == pytest.approx(s)
    assert row["Request reduction [KRW bn]"] == pytest.approx(32.0 - s)
    assert row["Support asked [KRW bn]"] == pytest.approx(32.0)
    assert f"at most KRW {s:g} bn in total (asked KRW 32 bn)" in row["Why left out, and what it would take"]
    assert view.loc["US-LI-01", "Why left out, and what it would take"].startswith("ineligible:")  # the rule
    # in Korean and 억원: the same figure, worded at the edge
    at.radio(key="lang").set_value("ko")
    at.radio(key="unit").set_value("억원").run()
    assert not at.exception, [e.value for e in at.exception]
    ko = next(d.value for d in at.dataframe if "요청액 감액 [억원]" in d.value.columns)
    assert ko.loc["MZ-GR-01", "선정 가능 지원액 [억원]"] == pytest.approx(10 * s)
    assert ko.loc["MZ-GR-01", "요청액 감액 [억원]"] == pytest.approx(10 * (32.0 - s))
    words = ko.loc["MZ-GR-01", "탈락 사유와 선정에 필요한 조건"]
    assert f"총 {10 * s:,.0f}억원 이하로 신청했다면" in words and "(신청 320억원)" in words
    assert ko.loc["US-LI-01", "탈락 사유와 선정에 필요한 조건"].startswith("부적격:")
