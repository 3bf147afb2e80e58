#!/usr/bin/env python3
"""The GitHub stub driven by an independent client: PyPI's `githubkit`
(its REST client and request models, generated from GitHub's OpenAPI
description), so the stub's wire format is not confirmed by embargo alone.
Creates a draft advisory, reads it, lists drafts, requests a CVE, sees it
assigned, publishes; a bad body is refused with 422. Exits non-zero with
the failing step.

  githubkit_check.py URL OWNER/REPO TOKEN
"""

import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
from githubkit import GitHub  # noqa: E402
from githubkit.exception import RequestFailed  # noqa: E402

url, repo, token = sys.argv[1:4]
owner, name = repo.split("/")
gh = GitHub(token, base_url=url.rstrip("/") + "/")
sa = gh.rest.security_advisories

created = sa.create_repository_advisory(owner, name, data={
    "summary": "Stored XSS in room topics",
    "description": "A room topic can run script in other members' clients.",
    "vulnerabilities": [{"package": {"ecosystem": "pip", "name": "chat-server"},
                         "vulnerable_version_range": ">= 1.0.0, < 1.99.1", "patched_versions": "1.99.1",
                         "vulnerable_functions": []}],
    "cwe_ids": ["CWE-79"],
    "cvss_vector_string": "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:L/A:N",
    "credits": [{"login": "rita", "type": "finder"}],
}).parsed_data
assert created.state == "draft", created
ghsa = created.ghsa_id
got = sa.get_repository_advisory(owner, name, ghsa).parsed_data
assert got.summary == "Stored XSS in room topics"
drafts = sa.list_repository_advisories(owner, name, state="draft").parsed_data
assert [d.ghsa_id for d in drafts] == [ghsa], drafts
sa.create_repository_advisory_cve_request(owner, name, ghsa)
assert sa.get_repository_advisory(owner, name, ghsa).parsed_data.cve_id, "a CVE id once requested"
published = sa.update_repository_advisory(owner, name, ghsa, data={"state": "published"}).parsed_data
assert published.state == "published" and published.published_at, published
try:
    gh.request("POST", f"/repos/{repo}/security-advisories", json={"summary": "no description"})
    raise SystemExit("a body without description and vulnerabilities was accepted")
except RequestFailed as e:
    assert e.response.status_code == 422, e
try:
    wrong = GitHub("wrong", base_url=url.rstrip("/") + "/")
    wrong.rest.security_advisories.get_repository_advisory(owner, name, ghsa)
    raise SystemExit("a wrong token was accepted")
except RequestFailed as e:
    assert e.response.status_code == 401, e
print("githubkit agrees with the stub")
