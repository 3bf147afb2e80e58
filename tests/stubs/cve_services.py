#!/usr/bin/env python3
"""A stub of CVE Services (the CVE Program's API for CNAs), written from its
OpenAPI description 2.3.3 (tests/data/schemas/cve-services/openapi.json):

- every request is checked against the description: the operation exists,
  the required headers and query parameters are there with the right
  types and enums, and a JSON body validates against the request schema
  the operation names (and a CNA container, once the stub has built the
  record, against the bundled CVE JSON 5.1 record schema, as the real
  server does);
- every answer the stub gives is checked against the response schema of
  its status code (a stub bug answers 599 and is logged, so a test fails);
- errors have the API's shapes (errors/generic.json, errors/bad-request.json)
  and its error codes (CVE_RECORD_EXISTS, CVE_RECORD_DNE, ...).

State lives in memory; after every change it is written to STATE_DIR/state.json
and every request to STATE_DIR/requests.jsonl (method, path, query, status).
Faults for the tests: a line `METHOD PATH-PREFIX 500-after` in
STATE_DIR/faults makes the next such request take effect and then answer 500
(the line is used up); `... 500-before` answers 500 without acting; `... 429-before`
answers 429 with `Retry-After: 1`.

  cve_services.py STATE_DIR [--org NAME] [--user U] [--key K] [--page-size N]

Prints `PORT=n` on stdout once listening on 127.0.0.1. The API is under /api/.
"""

import argparse
import datetime
import json
import pathlib
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jsonschema

HERE = pathlib.Path(__file__).resolve().parent
SPEC_DIR = HERE.parent / "data" / "schemas" / "cve-services"
SPEC = json.loads((SPEC_DIR / "openapi.json").read_text())
RECORD_SCHEMA = json.loads((SPEC_DIR / "CVE_JSON_5.1_bundled.json").read_text())


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def schema_file(ref):
    """`../schemas/cve/x.json` (relative to the API docs) as a file here."""
    rest = ref.split("../schemas/", 1)[-1]
    p = SPEC_DIR / "schemas" / rest
    return json.loads(p.read_text()) if p.exists() else None


def resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj and obj["$ref"].startswith("#/"):
        node = SPEC
        for part in obj["$ref"][2:].split("/"):
            node = node[part]
        obj = node
    return obj


def errors_of(schema, doc):
    cls = jsonschema.validators.validator_for(schema)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))


LOOSE = ("cve/get-cve-record-response.json", "cve/create-cve-record-response.json",
         "cve/update-cve-record-response.json", "cve/update-full-cve-record-response.json",
         "cve/create-cve-record-rejection-response.json")

ROUTES = []
for template, ops in SPEC["paths"].items():
    pattern = "^" + re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", template) + "$"
    for method, op in ops.items():
        ROUTES.append((method.upper(), re.compile(pattern), template, op))


class Stub:
    def __init__(self, args):
        self.dir = pathlib.Path(args.state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.org = args.org
        self.org_uuid = str(uuid.uuid4())
        self.users = {args.user: args.key}
        self.page_size = args.page_size
        self.quota = 100
        self.ids = {}  # cve_id -> id info
        self.records = {}  # cve_id -> full record
        self.next_seq = {}
        self.lock = threading.Lock()

    def save(self):
        (self.dir / "state.json").write_text(json.dumps({"ids": self.ids, "records": self.records}, indent=1))

    def log(self, entry):
        with open(self.dir / "requests.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    def fault(self, method, path, kinds=("500-after", "500-before")):
        f = self.dir / "faults"
        if not f.exists():
            return None
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            parts = line.split()
            if len(parts) == 3 and parts[0] == method and path.startswith(parts[1]) and parts[2] in kinds:
                del lines[i]
                f.write_text("".join(l + "\n" for l in lines))
                return parts[2]
        return None


def generic(error, message):
    return {"error": error, "message": message}


def schema_failure(errs):
    """A body the schema refuses, in the shape of errors/bad-request.json."""
    return 400, {"error": "INVALID_JSON_SCHEMA", "message": "CVE JSON schema validation FAILED.",
                 "details": [{"msg": e.message[:300], "param": "/" + "/".join(map(str, e.absolute_path)),
                              "location": "body"} for e in errs[:10]]}


def bad_request(details, message="Parameters were invalid"):
    return {"error": "BAD_INPUT", "message": message, "details": details}


class Handler(BaseHTTPRequestHandler):
    stub = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def answer(self, status, body, op=None, headers=(), entry=None):
        if op is not None and status != 599:
            problem = self.response_problem(op, status, body)
            if problem:
                print(f"cve-services stub: its own answer breaks the description: {problem}", file=sys.stderr)
                status, body = 599, generic("STUB_ERROR", problem)
        # Logged before the client can read the answer: a test that reads
        # the log right after its command returns sees this request.
        if entry is not None:
            entry["status"] = status
            self.stub.log(entry)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        return status

    def response_problem(self, op, status, body):
        resp = op.get("responses", {}).get(str(status))
        if resp is None:
            return f"status {status} is not one the operation documents"
        schema = resp.get("content", {}).get("application/json", {}).get("schema")
        if not schema:
            return None
        refs = [s["$ref"] for s in schema.get("oneOf", [schema]) if "$ref" in s]
        if any(r.endswith(LOOSE) for r in refs) and status == 200:
            # These documented shapes give `affected` as an object where the
            # record schema (and the server) has an array: the record in
            # them is checked against the record schema instead (in act).
            ok = isinstance(body, dict) and ("message" in body or "cveMetadata" in body)
            return None if ok else "neither a record nor a message"
        schemas = [s for s in (schema_file(r) for r in refs) if s is not None]
        if not schemas:
            return None
        if any(not errors_of(s, body) for s in schemas):
            return None
        return "; ".join(e.message for e in errors_of(schemas[0], body)[:3])

    def handle_any(self, method):
        s = self.stub
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = url.path
        if not path.startswith("/api/"):
            return self.answer(404, generic("NOT_FOUND", "not under /api/"))
        path = path[len("/api"):]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route = next(((t, op, m.groupdict()) for (mm, rx, t, op) in ROUTES if mm == method
                      for m in [rx.match(path)] if m), None)
        entry = {"method": method, "path": path, "query": query}
        if raw:
            try:
                entry["body"] = json.loads(raw)
            except ValueError:
                pass
        if route is None:
            return self.answer(404, generic("NOT_FOUND", f"{method} {path} is not in the API"), entry=entry)
        template, op, params = route
        with s.lock:
            if s.fault(method, path, ("429-before",)):
                return self.answer(429, generic("TOO_MANY_REQUESTS", "Rate limit exceeded"), op,
                                   [("Retry-After", "1")], entry=entry)
            status, body = self.checked(op, method, path, template, params, query, raw)
            self.answer(status, body, op, entry=entry)

    def checked(self, op, method, path, template, params, query, raw):
        s = self.stub
        details = []
        for p in (resolve(p) for p in op.get("parameters", [])):
            where, name = p["in"], p["name"]
            value = self.headers.get(name) if where == "header" else query.get(name) if where == "query" else params.get(name)
            if value is None:
                if p.get("required"):
                    details.append({"msg": f"{name} is required", "param": name,
                                    "location": "query" if where == "query" else "param"})
                continue
            sch = p.get("schema", {})
            if sch.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                details.append({"msg": "Invalid value", "param": name, "location": "query"})
            if "enum" in sch and value not in sch["enum"]:
                details.append({"msg": f"must be one of {sch['enum']}", "param": name, "location": "query"})
        security = any(resolve(p)["in"] == "header" for p in op.get("parameters", []))
        if security:
            user, key, org = (self.headers.get(h) for h in ("CVE-API-USER", "CVE-API-KEY", "CVE-API-ORG"))
            if not user or s.users.get(user) != key or org != s.org:
                return 401, generic("UNAUTHORIZED", "Unauthorized")
        if details:
            return 400, bad_request(details)
        body = None
        if "requestBody" in op:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return 400, bad_request([{"msg": "not JSON", "param": "body", "location": "body"}])
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            # The documented request schemas list reference tags as oneOf a
            # free string and the tag enum, so every valid tag ("is valid
            # under each of") fails them; the server checks the container
            # with the bundled record schema (done in act), where it passes.
            errs = [e for e in errors_of(schema_file(ref), body)
                    if not (e.validator == "oneOf" and "is valid under each of" in e.message)]
            if errs:
                return schema_failure(errs)
        fault = s.fault(method, path)
        if fault == "500-before":
            return 500, generic("SERVICE_UNAVAILABLE", "try again later")
        status, answer = self.act(method, template, params, query, body)
        if fault == "500-after" and status < 300:
            s.save()
            return 500, generic("INTERNAL_ERROR", "the answer was lost (stub fault)")
        s.save()
        return status, answer

    def act(self, method, template, params, query, body):
        s = self.stub
        user = self.headers.get("CVE-API-USER")
        key = (method, template)
        if key == ("GET", "/health-check"):
            return 200, {}
        if key == ("GET", "/org/{identifier}"):
            if params["identifier"] not in (s.org, s.org_uuid):
                return 404, generic("ORG_DNE", "The organization does not exist.")
            return 200, {"short_name": s.org, "name": s.org, "UUID": s.org_uuid,
                         "authority": {"active_roles": ["CNA"]}, "policies": {"id_quota": s.quota},
                         "time": {"created": now(), "modified": now()}}
        if key == ("GET", "/org/{shortname}/id_quota"):
            if params["shortname"] != s.org:
                return 403, generic("NOT_SAME_ORG_OR_SECRETARIAT", "This information can only be viewed by the users of the same organization or the Secretariat.")
            used = sum(1 for i in s.ids.values() if i["state"] == "RESERVED")
            return 200, {"id_quota": s.quota, "total_reserved": used, "available": s.quota - used}
        if key == ("POST", "/cve-id"):
            amount, year = int(query["amount"]), query["cve_year"]
            if query["short_name"] != s.org:
                return 403, generic("NOT_SAME_ORG_OR_SECRETARIAT", "Only the organization's users may reserve its ids.")
            if amount < 1 or not re.fullmatch(r"\d{4}", year):
                return 400, bad_request([{"msg": "Invalid value", "param": "amount" if amount < 1 else "cve_year", "location": "query"}])
            if amount > 1 and "batch_type" not in query:
                return 400, bad_request([{"msg": "batch_type is required when amount > 1", "param": "batch_type", "location": "query"}])
            made = []
            for _ in range(amount):
                seq = s.next_seq.get(year, 1000)
                s.next_seq[year] = seq + 1
                cve_id = f"CVE-{year}-{seq}"
                info = {"cve_id": cve_id, "cve_year": year, "owning_cna": s.org, "state": "RESERVED",
                        "requested_by": {"cna": s.org, "user": user}, "reserved": now(),
                        "time": {"created": now(), "modified": now()}}
                s.ids[cve_id] = info
                made.append({k: info[k] for k in ("cve_id", "cve_year", "owning_cna", "state", "requested_by", "reserved")})
            used = sum(1 for i in s.ids.values() if i["state"] == "RESERVED")
            return 200, {"cve_ids": made, "meta": {"remaining_quota": s.quota - used}}
        if key == ("GET", "/cve-id"):
            ids = list(s.ids.values())
            if "state" in query:
                ids = [i for i in ids if i["state"] == query["state"]]
            if "time_reserved.gt" in query:
                ids = [i for i in ids if i["reserved"] > norm(query["time_reserved.gt"])]
            if "time_reserved.lt" in query:
                ids = [i for i in ids if i["reserved"] < norm(query["time_reserved.lt"])]
            page = int(query.get("page", "1"))
            chunk = ids[(page - 1) * s.page_size: page * s.page_size]
            out = {"cve_ids": chunk}
            if len(ids) > s.page_size:
                pages = (len(ids) + s.page_size - 1) // s.page_size
                out.update({"totalCount": len(ids), "itemsPerPage": s.page_size, "pageCount": pages,
                            "currentPage": page, "prevPage": page - 1 if page > 1 else None,
                            "nextPage": page + 1 if page < pages else None})
            return 200, out
        if key == ("GET", "/cve-id/{id}"):
            info = s.ids.get(params["id"])
            if info is None:
                return 404, generic("CVEID_DNE", "The CVE ID does not exist.")
            return 200, info
        if key == ("GET", "/cve/{id}"):
            rec = s.records.get(params["id"])
            if rec is None:
                return 404, generic("CVE_RECORD_DNE", "The cve record for the cve id does not exist.")
            return 200, rec
        if key in (("POST", "/cve/{id}/cna"), ("PUT", "/cve/{id}/cna")):
            cve_id = params["id"]
            info = s.ids.get(cve_id)
            if info is None or info["owning_cna"] != s.org:
                return 404 if info is None else 403, generic("CVEID_DNE" if info is None else "NOT_OWNER", f"{cve_id} is not this organization's.")
            exists = cve_id in s.records and s.records[cve_id]["cveMetadata"]["state"] == "PUBLISHED"
            if method == "POST" and cve_id in s.records:
                return 403, generic("CVE_RECORD_EXISTS", "The cve record already exists.")
            if method == "PUT" and not exists:
                return 403, generic("CVE_RECORD_DNE", "The cve record for the cve id does not exist.")
            cna = dict(body["cnaContainer"])
            cna["providerMetadata"] = {"orgId": s.org_uuid, "shortName": s.org, "dateUpdated": now()}
            published = s.records[cve_id]["cveMetadata"]["datePublished"] if exists else now()
            record = {"dataType": "CVE_RECORD", "dataVersion": "5.1",
                      "cveMetadata": {"cveId": cve_id, "assignerOrgId": s.org_uuid, "assignerShortName": s.org,
                                      "requesterUserId": str(uuid.uuid4()),
                                      "state": "PUBLISHED", "datePublished": published,
                                      "dateReserved": info["reserved"], "dateUpdated": now()},
                      "containers": {"cna": cna}}
            errs = errors_of(RECORD_SCHEMA, record)
            if errs:
                return schema_failure(errs)
            s.records[cve_id] = record
            info["state"] = "PUBLISHED"
            info["time"]["modified"] = now()
            verb = "updated" if method == "PUT" else "created"
            return 200, {"message": f"{cve_id} record was successfully {verb}.", verb: record}
        if key == ("POST", "/cve/{id}/reject"):
            cve_id = params["id"]
            info = s.ids.get(cve_id)
            if info is None:
                return 404, generic("CVEID_DNE", "The CVE ID does not exist.")
            if cve_id in s.records:
                return 403, generic("CVE_RECORD_EXISTS", "The cve record already exists.")
            cna = dict(body["cnaContainer"])
            cna["providerMetadata"] = {"orgId": s.org_uuid, "shortName": s.org, "dateUpdated": now()}
            record = {"dataType": "CVE_RECORD", "dataVersion": "5.1",
                      "cveMetadata": {"cveId": cve_id, "assignerOrgId": s.org_uuid, "assignerShortName": s.org,
                                      "state": "REJECTED", "dateRejected": now(), "dateReserved": info["reserved"],
                                      "dateUpdated": now()},
                      "containers": {"cna": cna}}
            errs = errors_of(RECORD_SCHEMA, record)
            if errs:
                return schema_failure(errs)
            s.records[cve_id] = record
            info["state"] = "REJECTED"
            info["time"]["modified"] = now()
            return 200, {"message": f"{cve_id} record was successfully created.", "created": record}
        if key == ("PUT", "/cve-id/{id}"):
            info = s.ids.get(params["id"])
            if info is None:
                return 404, generic("CVEID_DNE", "The CVE ID does not exist.")
            if "state" in query:
                info["state"] = query["state"]
            return 200, {"message": f"{params['id']} was successfully updated.", "updated": info}
        return 404, generic("NOT_IMPLEMENTED_IN_STUB", f"{method} {template} is in the API but not in this stub")


def norm(t):
    """A time from a query, comparable with the stub's own."""
    t = t.replace("Z", "+00:00")
    d = datetime.datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("state_dir")
    ap.add_argument("--org", default="example")
    ap.add_argument("--user", default="cna@example.test")
    ap.add_argument("--key", default="cve-api-key")
    ap.add_argument("--page-size", type=int, default=500)
    args = ap.parse_args()
    Handler.stub = Stub(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT={server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
