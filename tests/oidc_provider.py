"""A minimal OpenID Connect provider for the browser test of the sign-in (never for real use).

``python tests/oidc_provider.py PORT CLIENT_ID CLIENT_SECRET`` serves, on 127.0.0.1:PORT, the
authorization-code flow that Streamlit's ``st.login`` speaks (through Authlib): discovery
(``/.well-known/openid-configuration``), ``/authorize`` (a form asking which e-mail address signs in:
the test types it, as a person would type their account), ``/token`` (an RS256-signed ID token with
the nonce, audience, issuer and ``email_verified``), ``/jwks`` and ``/userinfo``. The key pair is
made at start-up with Authlib (already a dependency of the sign-in), so nothing is downloaded.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import warnings

with warnings.catch_warnings():  # authlib.jose is deprecated in favour of joserfc, still shipped with 1.x
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt


def make_handler(issuer: str, client_id: str, client_secret: str):
    key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key"})
    public = key.as_dict(is_private=False)
    public.update({"use": "sig", "alg": "RS256"})
    codes: dict[str, dict] = {}
    tokens: dict[str, dict] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _json(self, obj, status=200):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/.well-known/openid-configuration":
                return self._json({
                    "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
                    "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
                    "userinfo_endpoint": f"{issuer}/userinfo", "response_types_supported": ["code"],
                    "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "email", "profile"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "claims_supported": ["sub", "email", "email_verified", "name"]})
            if url.path == "/jwks":
                return self._json({"keys": [public]})
            if url.path == "/authorize":
                if q.get("client_id") != client_id:
                    return self._json({"error": "unauthorized_client"}, 400)
                hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                 for k, v in q.items())
                body = (f'<html><body><h1>Test provider</h1><form method="get" action="/approve">{hidden}'
                        '<input id="email" name="login_email" type="email">'
                        '<button id="go" type="submit">Continue</button></form></body></html>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None
            if url.path == "/approve":
                code = secrets.token_urlsafe(16)
                codes[code] = {"email": q["login_email"], "nonce": q.get("nonce"), "redirect_uri": q["redirect_uri"]}
                target = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()
                return None
            if url.path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                return self._json(tokens[token]) if token in tokens else self._json({"error": "invalid_token"}, 401)
            return self._json({"error": "not_found"}, 404)

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length", 0))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if url.path != "/token":
                return self._json({"error": "not_found"}, 404)
            cid, secret = form.get("client_id"), form.get("client_secret")
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                cid, secret = urllib.parse.unquote(cid), urllib.parse.unquote(secret)
            if (cid, secret) != (client_id, client_secret):
                return self._json({"error": "invalid_client"}, 401)
            grant = codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return self._json({"error": "invalid_grant"}, 400)
            now = int(time.time())
            email = grant["email"]
            claims = {"iss": issuer, "sub": email, "aud": client_id, "iat": now, "exp": now + 3600,
                      "email": email, "email_verified": True, "name": email.split("@")[0].title()}
            if grant["nonce"]:
                claims["nonce"] = grant["nonce"]
            id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key).decode()
            access = secrets.token_urlsafe(16)
            tokens[access] = {k: claims[k] for k in ("sub", "email", "email_verified", "name")}
            return self._json({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                               "id_token": id_token, "scope": "openid email profile"})

    return Handler


def main(argv: list[str]) -> None:
    port, client_id, client_secret = int(argv[0]), argv[1], argv[2]
    issuer = f"http://127.0.0.1:{port}"
    ThreadingHTTPServer(("127.0.0.1", port), make_handler(issuer, client_id, client_secret)).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
