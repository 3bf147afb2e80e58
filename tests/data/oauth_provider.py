"""A small OAuth 2.0 provider for embargo's tests (stdlib only).

  oauth_provider.py PORT_FILE

Listens on 127.0.0.1 (a free port, written to PORT_FILE) and serves:

  POST /token       refresh_token grant (the refresh token rotates on every
                    use; the old one stops working) and the device_code
                    grant (RFC 8628); client_id must be "embargo-test"
  POST /device      device authorization (RFC 8628)
  POST /introspect  RFC 7662 token introspection, as Dovecot's oauth2
                    passdb asks it (introspection_mode = post):
                    {"active": true, "username": ..., "scope": ...}
  POST /admin/...   test controls:
        issue?username=U      a new refresh token for U (printed)
        approve?user_code=C   the user approves a device login
        revoke                every refresh token stops working (consent revoked)
        expire                every access token expires now
        ttl?seconds=N         lifetime of access tokens issued from now on
  GET  /admin/state  counts and the current tokens, as JSON

Tokens are random; nothing is written to disk but the port file.
"""

import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "embargo-test"
SCOPE = "imap smtp offline_access"

lock = threading.Lock()
state = {
    "ttl": 3600,
    "refresh": {},  # refresh token -> username
    "access": {},  # access token -> (username, expires_at)
    "devices": {},  # device_code -> {"user_code", "username", "approved", "expires"}
    "issued": [],  # every token ever issued (the tests grep logs for them)
    "refreshes": 0,
    "introspections": 0,
    "device_polls": 0,
}


def new_tokens(username):
    access = "at-" + secrets.token_urlsafe(24)
    refresh = "rt-" + secrets.token_urlsafe(24)
    state["access"][access] = (username, time.time() + state["ttl"])
    state["refresh"][refresh] = username
    state["issued"] += [access, refresh]
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state["ttl"],
        "refresh_token": refresh,
        "scope": SCOPE,
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode() if n else ""
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def do_GET(self):
        if self.path == "/admin/state":
            with lock:
                self.reply(
                    200,
                    {
                        "refreshes": state["refreshes"],
                        "introspections": state["introspections"],
                        "device_polls": state["device_polls"],
                        "refresh_tokens": list(state["refresh"]),
                        "access_tokens": list(state["access"]),
                        "issued": state["issued"],
                    },
                )
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        f = self.form()
        with lock:
            if url.path == "/token":
                return self.token(f)
            if url.path == "/device":
                if f.get("client_id") != CLIENT_ID:
                    return self.reply(401, {"error": "invalid_client"})
                code = secrets.token_urlsafe(16)
                user_code = secrets.token_hex(4).upper()
                state["devices"][code] = {
                    "user_code": user_code,
                    "username": None,
                    "expires": time.time() + 600,
                }
                return self.reply(
                    200,
                    {
                        "device_code": code,
                        "user_code": user_code,
                        "verification_uri": "http://127.0.0.1/device",
                        "expires_in": 600,
                        "interval": 1,
                    },
                )
            if url.path == "/introspect":
                state["introspections"] += 1
                tok = f.get("token", "")
                entry = state["access"].get(tok)
                if not entry or entry[1] < time.time():
                    return self.reply(200, {"active": False})
                return self.reply(
                    200, {"active": True, "username": entry[0], "scope": SCOPE, "exp": int(entry[1])}
                )
            if url.path == "/admin/issue":
                return self.reply(200, new_tokens(q["username"]))
            if url.path == "/admin/approve":
                for d in state["devices"].values():
                    if d["user_code"] == q["user_code"]:
                        d["username"] = q["username"]
                        return self.reply(200, {"approved": True})
                return self.reply(404, {"error": "no such user_code"})
            if url.path == "/admin/revoke":
                state["refresh"].clear()
                return self.reply(200, {"revoked": True})
            if url.path == "/admin/expire":
                for k, (u, _) in list(state["access"].items()):
                    state["access"][k] = (u, 0)
                return self.reply(200, {"expired": True})
            if url.path == "/admin/ttl":
                state["ttl"] = int(q["seconds"])
                return self.reply(200, {"ttl": state["ttl"]})
        self.reply(404, {"error": "not_found"})

    def token(self, f):
        if f.get("client_id") != CLIENT_ID:
            return self.reply(401, {"error": "invalid_client"})
        grant = f.get("grant_type")
        if grant == "refresh_token":
            state["refreshes"] += 1
            user = state["refresh"].pop(f.get("refresh_token", ""), None)
            if user is None:
                return self.reply(400, {"error": "invalid_grant", "error_description": "refresh token revoked or unknown"})
            return self.reply(200, new_tokens(user))
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            state["device_polls"] += 1
            d = state["devices"].get(f.get("device_code", ""))
            if d is None:
                return self.reply(400, {"error": "invalid_grant"})
            if d["expires"] < time.time():
                return self.reply(400, {"error": "expired_token"})
            if d["username"] is None:
                return self.reply(400, {"error": "authorization_pending"})
            del state["devices"][f["device_code"]]
            return self.reply(200, new_tokens(d["username"]))
        return self.reply(400, {"error": "unsupported_grant_type"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os

    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


main()
