"""A real sign-in in the browser (issue 24): an OpenID Connect provider started on 127.0.0.1 by
the test (``tests/oidc_provider.py``, built on Authlib, which the sign-in needs anyway), the app
in team mode (``[auth]`` and ``[roles]`` in a secrets file given with ``--secrets.files``), and
headless chromium signing people in through ``st.login``, each in their own browser context.

Skipped when chromium or playwright is absent, like the other browser tests.
"""

import os
import subprocess
import sys

import pytest

from browser_support import CHROMIUM, FLAGS, ROOT, free_port, sign_in, start_oidc_provider, stop, team_secrets, wait_for

if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed at /usr/bin/chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("authlib")
pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def team_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("team")
    app_port, idp_port = free_port(), free_port()
    idp = start_oidc_provider(idp_port)
    secrets = team_secrets(tmp / "secrets.toml", app_port, idp_port,
                           {"approver": ["secretary@agency.go.kr"], "officer": ["kim@agency.go.kr"]})
    env = dict(os.environ, EVALUATOR_STORE=str(tmp / "s.sqlite3"))
    app = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(app_port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--secrets.files", str(secrets)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(f"http://127.0.0.1:{app_port}/_stcore/health", app, "streamlit")
    yield f"http://127.0.0.1:{app_port}"
    stop(app)
    stop(idp)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def test_visitor_sees_only_the_sign_in_page(team_server, browser):
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(team_server)
    pg.get_by_role("button", name="Sign in").wait_for()
    pg.wait_for_timeout(1500)
    text = pg.inner_text("body")
    assert "Sign in with your organisation" in text
    assert "Now loaded" not in text and "VN-REE-01" not in text and "Ranking" not in text
    context.close()


def test_two_people_sign_in_with_their_roles_and_a_stranger_is_refused(team_server, browser):
    secretary, pg1 = sign_in(browser, team_server, "secretary@agency.go.kr")
    pg1.wait_for_selector("text=Signed in as")
    assert "secretary@agency.go.kr" in pg1.inner_text('[data-testid="stSidebar"]')
    assert "approver" in pg1.inner_text('[data-testid="stSidebar"]')
    officer, pg2 = sign_in(browser, team_server, "kim@agency.go.kr")
    pg2.wait_for_selector("text=Signed in as")
    assert "kim@agency.go.kr" in pg2.inner_text('[data-testid="stSidebar"]')
    assert "officer" in pg2.inner_text('[data-testid="stSidebar"]')
    pg2.get_by_role("link", name="Scenarios").click()
    pg2.wait_for_selector("text=Saved under your sign-in")   # saved under the sign-in, no typed author
    stranger, pg3 = sign_in(browser, team_server, "stranger@example.com")
    pg3.wait_for_selector("text=is not on the list")
    assert "Now loaded" not in pg3.inner_text("body")
    for c in (secretary, officer, stranger):
        c.close()
