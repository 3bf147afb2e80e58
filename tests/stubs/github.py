#!/usr/bin/env python3
"""A stub of GitHub's REST API for repository security advisories, checked
against GitHub's published REST description as PyPI's `githubkit-schemas`
carries it (pydantic models generated from GitHub's OpenAPI document):

- request bodies of create and update validate as `RepositoryAdvisoryCreate`
  and `RepositoryAdvisoryUpdate` (types, required fields, enums, lengths);
  a field those models do not know is refused, as is `severity` together
  with `cvss_vector_string` (GitHub's documented rule);
- every advisory the stub answers with validates as `RepositoryAdvisory`
  (a stub bug answers 599 and is logged, so a test fails);
- errors have GitHub's shapes: 401 "Bad credentials", 404 "Not Found",
  422 "Validation Failed" with `errors: [{resource, field, code, message}]`.

Endpoints: POST/GET .../security-advisories, GET/PATCH .../{ghsa_id},
POST .../{ghsa_id}/cve (202; the CVE id shows on the next GET).
State goes to STATE_DIR/state.json, requests to STATE_DIR/requests.jsonl.
Faults: a line `METHOD PATH-PREFIX 500-after` in STATE_DIR/faults.

  github.py STATE_DIR [--repo owner/name] [--token T]

Prints `PORT=n` once listening on 127.0.0.1; the API is at the root.
"""

import argparse
import datetime
import json
import pathlib
import random
import re
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

warnings.simplefilter("ignore", DeprecationWarning)
import pydantic  # noqa: E402
from githubkit_schemas.latest.models import (  # noqa: E402
    RepositoryAdvisory,
    RepositoryAdvisoryCreate,
    RepositoryAdvisoryUpdate,
)

DOCS = "https://docs.github.com/rest/security-advisories/repository-advisories"
ALPHABET = "23456789cfghjmpqrvwx"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fields_of(model):
    return {f.alias or n for n, f in model.model_fields.items()}


def invalid(errors):
    return 422, {"message": "Validation Failed", "errors": errors, "documentation_url": DOCS, "status": "422"}


def check_body(model, body):
    if not isinstance(body, dict):
        return [{"resource": "RepositoryAdvisory", "code": "invalid", "message": "the body is not a JSON object"}]
    errors = [{"resource": "RepositoryAdvisory", "field": k, "code": "invalid", "message": f"{k} is not a known field"}
              for k in body if k not in fields_of(model)]
    try:
        model.model_validate(body)
    except pydantic.ValidationError as e:
        for err in e.errors():
            errors.append({"resource": "RepositoryAdvisory", "field": ".".join(map(str, err["loc"])),
                           "code": "invalid", "message": err["msg"]})
    if body.get("severity") is not None and body.get("cvss_vector_string") is not None:
        errors.append({"resource": "RepositoryAdvisory", "field": "severity", "code": "invalid",
                       "message": "You must choose between setting severity or cvss_vector_string"})
    return errors


class Stub:
    def __init__(self, args):
        self.dir = pathlib.Path(args.state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.repo = args.repo
        self.token = args.token
        self.advisories = {}
        self.cve_seq = 5000
        self.lock = threading.Lock()

    def save(self):
        (self.dir / "state.json").write_text(json.dumps({"advisories": self.advisories}, indent=1))

    def fault(self, method, path):
        f = self.dir / "faults"
        if not f.exists():
            return None
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            parts = line.split()
            if len(parts) == 3 and parts[0] == method and path.startswith(parts[1]):
                del lines[i]
                f.write_text("".join(l + "\n" for l in lines))
                return parts[2]
        return None

    def advisory(self, body, ghsa):
        url = f"https://api.github.com/repos/{self.repo}/security-advisories/{ghsa}"
        vulns = []
        for v in body.get("vulnerabilities") or []:
            vulns.append({"package": v["package"], "vulnerable_version_range": v.get("vulnerable_version_range"),
                          "patched_versions": v.get("patched_versions"),
                          "vulnerable_functions": v.get("vulnerable_functions")})
        cvss = body.get("cvss_vector_string")
        return {
            "ghsa_id": ghsa, "cve_id": body.get("cve_id"), "url": url,
            "html_url": f"https://github.com/{self.repo}/security/advisories/{ghsa}",
            "summary": body["summary"], "description": body["description"],
            "severity": body.get("severity") or ("high" if cvss else None),
            "author": None, "publisher": None,
            "identifiers": [{"type": "GHSA", "value": ghsa}] + (
                [{"type": "CVE", "value": body["cve_id"]}] if body.get("cve_id") else []),
            "state": "draft", "created_at": now(), "updated_at": now(), "published_at": None,
            "closed_at": None, "withdrawn_at": None, "submission": None, "vulnerabilities": vulns,
            "cvss_severities": {"cvss_v3": {"vector_string": cvss, "score": None} if cvss else None, "cvss_v4": None},
            "cwes": [{"cwe_id": c, "name": c} for c in body.get("cwe_ids") or []],
            "cwe_ids": body.get("cwe_ids") or [],
            "credits": body.get("credits") or [],
            "credits_detailed": [],
            "collaborating_users": None, "collaborating_teams": None, "private_fork": None,
        }


class Handler(BaseHTTPRequestHandler):
    stub = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def answer(self, status, body, entry):
        for a in body if isinstance(body, list) else [body] if status in (200, 201) else []:
            if isinstance(a, dict) and "ghsa_id" in a:
                try:
                    RepositoryAdvisory.model_validate(a)
                except pydantic.ValidationError as e:
                    print(f"github stub: its own answer breaks the description: {e}", file=sys.stderr)
                    status, body = 599, {"message": str(e)}
        # Logged before the client can read the answer: a test that reads
        # the log right after its command returns sees this request.
        entry["status"] = status
        with open(self.stub.dir / "requests.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def handle_any(self, method):
        s = self.stub
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        entry = {"method": method, "path": url.path, "query": query}
        if raw:
            try:
                entry["body"] = json.loads(raw)
            except ValueError:
                pass
        with s.lock:
            status, body = self.route(method, url.path, query, raw)
            self.answer(status, body, entry)

    def route(self, method, path, query, raw):
        s = self.stub
        auth = self.headers.get("Authorization", "")
        if auth not in (f"Bearer {s.token}", f"token {s.token}"):
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/security-advisories(?:/(GHSA-[^/]+))?(/cve)?", path)
        if not m or m.group(1) != s.repo:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        ghsa, cve = m.group(2), m.group(3)
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}
        fault = s.fault(method, path)
        status, answer = self.act(method, ghsa, cve, query, body)
        s.save()
        if fault == "500-after" and status < 300:
            return 500, {"message": "Server Error"}
        return status, answer

    def act(self, method, ghsa, cve, query, body):
        s = self.stub
        if ghsa is None and method == "POST":
            errors = check_body(RepositoryAdvisoryCreate, body)
            if errors:
                return invalid(errors)
            new = "GHSA-" + "-".join("".join(random.choice(ALPHABET) for _ in range(4)) for _ in range(3))
            s.advisories[new] = s.advisory(body, new)
            return 201, s.advisories[new]
        if ghsa is None and method == "GET":
            items = list(s.advisories.values())
            if "state" in query:
                items = [a for a in items if a["state"] == query["state"]]
            items.sort(key=lambda a: a["created_at"], reverse=query.get("direction", "desc") == "desc")
            per = int(query.get("per_page", "30"))
            page = int(query.get("page", "1"))
            return 200, items[(page - 1) * per: page * per]
        a = s.advisories.get(ghsa)
        if a is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        if cve and method == "POST":
            if a["cve_id"] or a.get("_cve_requested"):
                return invalid([{"resource": "RepositoryAdvisory", "field": "cve_id", "code": "already_exists",
                                 "message": "A CVE has already been requested for this advisory"}])
            a["_cve_requested"] = True
            return 202, {}
        if method == "GET" and not cve:
            if a.get("_cve_requested") and not a["cve_id"]:
                s.cve_seq += 1
                a["cve_id"] = f"CVE-2026-{s.cve_seq}"
                a["identifiers"].append({"type": "CVE", "value": a["cve_id"]})
            return 200, {k: v for k, v in a.items() if not k.startswith("_")}
        if method == "PATCH" and not cve:
            errors = check_body(RepositoryAdvisoryUpdate, body)
            if errors:
                return invalid(errors)
            if a["state"] == "published" and body.get("state") == "draft":
                return invalid([{"resource": "RepositoryAdvisory", "field": "state", "code": "invalid",
                                 "message": "A published advisory cannot go back to draft"}])
            merged = dict(a)
            merged.update({k: v for k, v in body.items() if k != "state"})
            fresh = s.advisory({**merged, "summary": merged["summary"], "description": merged["description"]}, ghsa)
            for keep in ("created_at", "published_at", "state", "_cve_requested"):
                if keep in a:
                    fresh[keep] = a[keep]
            if body.get("state") == "published" and a["state"] != "published":
                fresh["state"] = "published"
                fresh["published_at"] = now()
            elif body.get("state"):
                fresh["state"] = body["state"]
            if a["cve_id"] and "cve_id" not in body:
                fresh["cve_id"] = a["cve_id"]
            s.advisories[ghsa] = fresh
            return 200, {k: v for k, v in fresh.items() if not k.startswith("_")}
        return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("state_dir")
    ap.add_argument("--repo", default="example/chat-server")
    ap.add_argument("--token", default="github-token")
    args = ap.parse_args()
    Handler.stub = Stub(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT={server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
