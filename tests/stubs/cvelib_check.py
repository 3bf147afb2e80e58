#!/usr/bin/env python3
"""The CVE Services stub driven by an independent client: PyPI's `cvelib`
(CveApi, as CNAs use it), so the stub's wire format is not confirmed by
embargo alone. Reserves, publishes (cvelib validates the container with its
own bundled CVE JSON 5 schema first), updates, rejects, lists, reads the
quota. Exits non-zero with the failing step.

  cvelib_check.py URL ORG USER KEY
"""

import sys

from cvelib.cve_api import CveApi

url, org, user, key = sys.argv[1:5]
api = CveApi(username=user, org=org, api_key=key, url=url.rstrip("/") + "/")

assert api.ping() is None, "health-check"
org_info = api.show_org()
assert org_info["short_name"] == org and org_info["UUID"], org_info
reserved = api.reserve(count=1, random=False, year="2026")
cve_id = reserved["cve_ids"][0]["cve_id"]
assert api.show_cve_id(cve_id)["state"] == "RESERVED"
container = {
    "title": "Stored XSS in room topics",
    "descriptions": [{"lang": "en", "value": "A room topic can run script in other members' clients."}],
    "affected": [{"vendor": "Example", "product": "chat-server", "versions": [
        {"version": "1.0.0", "lessThan": "1.99.1", "status": "affected", "versionType": "semver"}]}],
    "references": [{"url": "https://example.test/advisories/1"}],
}
created = api.publish(cve_id, container)
assert created["created"]["cveMetadata"]["state"] == "PUBLISHED", created
record = api.show_cve_record(cve_id)
assert record["containers"]["cna"]["title"] == container["title"]
container["title"] = "Stored XSS in room topics (updated)"
updated = api.update_published(cve_id, container)
assert updated["updated"]["containers"]["cna"]["title"].endswith("(updated)"), updated
try:
    api.publish(cve_id, container)
    raise SystemExit("publishing twice was accepted")
except Exception as e:  # requests.HTTPError: 403 CVE_RECORD_EXISTS
    assert "403" in str(e), e
second = api.reserve(count=2, random=False, year="2026")["cve_ids"]
assert len(second) == 2
rejected = api.reject(second[0]["cve_id"], {"rejectedReasons": [{"lang": "en", "value": "A duplicate."}]})
assert rejected["created"]["cveMetadata"]["state"] == "REJECTED", rejected
listed = list(api.list_cves(state="RESERVED"))
assert [c["cve_id"] for c in listed] == [second[1]["cve_id"]], listed
quota = api.quota()
assert quota["total_reserved"] == 1 and quota["available"] == quota["id_quota"] - 1, quota
bad = CveApi(username=user, org=org, api_key="wrong", url=url.rstrip("/") + "/")
try:
    bad.quota()
    raise SystemExit("a wrong key was accepted")
except Exception as e:
    assert "401" in str(e), e
print("cvelib agrees with the stub")
