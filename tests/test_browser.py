"""The app in a real browser: Debian's chromium driven by Playwright against `streamlit run`.

Skipped when chromium or playwright is absent (`playwright install` is never used: it downloads
browsers). Screenshots go to a temporary folder; the allocation one is copied to
/tmp/app_screenshots/ for review.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser_support import CHROMIUM, FLAGS, ROOT, free_port, stop, wait_for

if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed at /usr/bin/chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, EVALUATOR_STORE=str(tmp_path_factory.mktemp("store") / "s.sqlite3"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/_stcore/health", proc, "streamlit")
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        yield pg
        context.close()
        browser.close()


def _wait_idle(pg):
    """Until Streamlit's status widget says nothing is running."""
    pg.wait_for_timeout(300)
    # while a script runs, the status widget shows "Running..." or a "Stop" button
    pg.wait_for_function(
        "() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return !w || !(w.innerText.includes('Running') || w.innerText.includes('Stop')); }",
        timeout=30_000)
    pg.wait_for_timeout(300)


def _allocated(pg) -> str:
    m = pg.locator('[data-testid="stMetric"]', has_text="Allocated").first
    return m.locator('[data-testid="stMetricValue"]').inner_text()


def test_ranking_and_fund_slider(server, page, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    page.goto(f"{server}/ranking")
    page.get_by_role("heading", name="Ranking").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    _wait_idle(page)
    page.screenshot(path=str(shots / "ranking.png"))
    page.get_by_role("heading", name="NPV vs country risk").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "ranking_charts.png"))

    page.goto(f"{server}/allocation")
    page.locator('[data-testid="stMetric"]', has_text="Allocated").first.wait_for()
    _wait_idle(page)
    before = _allocated(page)
    thumb = page.locator('[data-testid="stSlider"]', has_text="Fund budget").get_by_role("slider")
    thumb.focus()
    for _ in range(20):  # 20 steps of KRW 5 bn
        thumb.press("ArrowLeft")
    # wait for the rerun of the slider's final position: the Fund metric reads "... of <budget>"
    _wait_idle(page)
    budget = page.locator('[data-testid="stSlider"]', has_text="Fund budget").locator(
        '[data-testid="stSliderThumbValue"]').inner_text().strip()
    assert float(budget) == 150.0   # every key press counts: a rerun in flight must not snap the thumb back
    page.wait_for_function(
        "(b) => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
        ".some(e => e.innerText.startsWith('Fund') && e.innerText.includes('of ' + b))", arg=budget,
        timeout=60_000)
    _wait_idle(page)
    after = _allocated(page)
    assert after != before
    assert float(after.split()[0].replace(",", "")) < float(before.split()[0].replace(",", ""))
    page.screenshot(path=str(shots / "allocation.png"))
    for name, heading in (("allocation_map", "Where the money goes"),
                          ("allocation_supply", "China's share of Korea's imports in the target year, without and with this portfolio"),
                          ("allocation_frontier", "Frontier: objective against a budget")):
        page.get_by_role("heading", name=heading).scroll_into_view_if_needed()
        if name == "allocation_frontier":   # computed in the background, drawn when ready
            page.get_by_text("Red diamond: the current budget.").wait_for(timeout=60_000)
        page.wait_for_timeout(800)  # let vega draw
        page.screenshot(path=str(shots / f"{name}.png"))

    # what it would take: computed in the background, shown when ready, polling stops at the end
    page.get_by_role("heading", name="What it would take").scroll_into_view_if_needed()
    page.get_by_text("Each figure comes from re-solving the allocation").wait_for(timeout=60_000)
    page.wait_for_function("() => !document.body.innerText.includes('left-out projects, nearest the margin first')",
                           timeout=60_000)
    _wait_idle(page)
    page.get_by_text("Each figure comes from re-solving the allocation").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "allocation_what_it_would_take.png"))

    page.goto(f"{server}/project")
    page.get_by_role("heading", name="Annual cash flows [USD m, real]").wait_for()
    _wait_idle(page)
    page.get_by_role("heading", name="Annual cash flows [USD m, real]").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "project.png"))

    out = Path("/tmp/app_screenshots")
    out.mkdir(exist_ok=True)
    for png in shots.glob("*.png"):
        shutil.copy(png, out / png.name)


def test_risk_adjusted_switch_in_the_browser(server, page):
    """The officer switches the ranking to P10 NPV: the Monte Carlo runs (progress bar) and the
    ranked table gains the simulated P10 NPV column."""
    page.goto(f"{server}/ranking")
    page.get_by_role("heading", name="Ranking").wait_for()
    _wait_idle(page)
    page.locator('[data-testid="stRadio"]', has_text="Financial measure").get_by_text("P10 NPV (risk-adjusted)").click()
    _wait_idle(page)
    page.get_by_text("Ranked on the simulated P10 NPV").wait_for(timeout=60_000)
    _wait_idle(page)
    page.screenshot(path="/tmp/app_screenshots/ranking_risk_adjusted.png")


def _nav(pg, label: str) -> None:
    """Open a page from the sidebar's navigation (same session)."""
    pg.locator('[data-testid="stSidebarNav"]').get_by_text(label, exact=True).click()
    _wait_idle(pg)


def test_officer_main_path_in_korean_survives_a_reload(server, page, tmp_path):
    """Upload, rank, change a weight, allocate, move a budget slider, build the report, save a
    scenario, reload the page: the state is restored from the draft. Screenshots in Korean."""
    out = Path("/tmp/app_screenshots")
    out.mkdir(exist_ok=True)
    page.goto(server)
    _wait_idle(page)
    # the earlier tests of this module left a draft (their budget moves): start over, as an officer would
    page.get_by_role("button", name=re.compile("Start over|처음부터 다시")).click()
    _wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        str(ROOT / "sample_projects" / "applications.csv"))
    _wait_idle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("한국어", exact=True).click()
    _wait_idle(page)
    page.get_by_role("heading", name="신청서", exact=True).wait_for()
    page.screenshot(path=str(out / "ko_applications.png"))

    _nav(page, "순위")
    page.get_by_role("heading", name="순위", exact=True).wait_for()
    thumb = page.locator('[data-testid="stSlider"]', has_text="공급망 다변화").get_by_role("slider")
    thumb.focus()
    for _ in range(4):
        thumb.press("ArrowRight")
    _wait_idle(page)
    page.get_by_text("순위 변동").first.wait_for(timeout=30_000)   # what moved after the weight change
    page.screenshot(path=str(out / "ko_ranking.png"))

    _nav(page, "배분")
    page.locator('[data-testid="stMetric"]', has_text="배정액").first.wait_for()
    fund = page.locator('[data-testid="stSlider"]', has_text="펀드 예산").get_by_role("slider")
    fund.focus()
    for _ in range(4):                                   # 4 steps of KRW 5 bn: 250 -> 230
        fund.press("ArrowLeft")
    _wait_idle(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
        ".some(e => e.innerText.startsWith('펀드') && e.innerText.includes('230.0'))", timeout=60_000)
    page.screenshot(path=str(out / "ko_allocation.png"))

    _nav(page, "보고서")
    page.get_by_role("button", name="엑셀 보고서 만들기").click()
    page.get_by_role("button", name="엑셀 보고서 내려받기 (.xlsx)").wait_for(timeout=60_000)
    page.screenshot(path=str(out / "ko_report.png"))

    _nav(page, "시나리오")
    page.get_by_label("이름").fill("기준안 펀드 230")
    page.get_by_label("작성자").fill("김 담당관")
    page.get_by_role("button", name="저장").click()
    page.get_by_text("시나리오 1(으)로 저장했습니다").wait_for(timeout=60_000)
    page.screenshot(path=str(out / "ko_scenarios.png"))

    page.reload()                                         # a new session: the draft brings it back
    _wait_idle(page)
    page.get_by_text("마지막 작업 상태를 복원했습니다").wait_for(timeout=30_000)
    _nav(page, "배분")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
        ".some(e => e.innerText.startsWith('펀드') && e.innerText.includes('230.0'))", timeout=60_000)
    page.screenshot(path=str(out / "ko_after_reload.png"))
