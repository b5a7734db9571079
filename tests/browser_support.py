"""What the browser tests and the browser benchmarks share: Debian's chromium and its flags, a free
port, a server's start and stop, and a team server's sign-in through the test OpenID Connect
provider (``tests/oidc_provider.py``). Never ``playwright install``: chromium is Debian's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: The test provider's client (never a real secret).
CLIENT_ID, CLIENT_SECRET = "mine-evaluator", "test-only-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, what: str, timeout_s: float = 60.0) -> None:
    """Until ``url`` answers 200; else stop ``proc`` and raise with the end of its stderr."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
    raise RuntimeError(f"{what} did not start within {timeout_s:.0f} s: {err}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server started here (kill it when it does not stop within 10 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_oidc_provider(port: int) -> subprocess.Popen:
    """The test OpenID Connect provider on 127.0.0.1:``port``, ready."""
    idp = subprocess.Popen([sys.executable, str(ROOT / "tests" / "oidc_provider.py"), str(port), CLIENT_ID,
                            CLIENT_SECRET], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(f"http://127.0.0.1:{port}/.well-known/openid-configuration", idp, "the OpenID provider")
    return idp


def team_secrets(path: Path, app_port: int, idp_port: int, roles: dict[str, list[str]]) -> Path:
    """A secrets file of a team server (``[auth]`` for the test provider, ``[roles]``)."""
    lines = [f"{role} = [{', '.join(repr(a).replace(chr(39), chr(34)) for a in addresses)}]"
             for role, addresses in roles.items()]
    path.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"
cookie_secret = "test-only-cookie-secret-0123456789abcdef"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "http://127.0.0.1:{idp_port}/.well-known/openid-configuration"

[roles]
''' + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def sign_in(browser, url: str, email: str, viewport=(1400, 1000), timeout_ms: int = 60_000):
    """A fresh browser context (own cookies) signing ``email`` in through the provider's form;
    (context, page), the page on its way back to the app."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    pg = context.new_page()
    pg.set_default_timeout(timeout_ms)
    pg.goto(url)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_selector("#email")
    pg.fill("#email", email)
    pg.click("#go")
    return context, pg
