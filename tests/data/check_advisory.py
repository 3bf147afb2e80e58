"""Checks embargo's advisory exports with independent tools.

  check_advisory.py osv|csaf|cve FILE   validate against the official schema
                                        (OSV, CSAF 2.0: tests/data/schemas;
                                        CVE JSON 5: cvelib's bundled schema)
  check_advisory.py cvss VECTOR...      print {"vector": [score, "RATING"]}
                                        from the PyPI cvss package

Exit 0 when valid; otherwise every error on standard error, exit 1.
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).parent / "schemas"


def schema_errors(kind, doc):
    import jsonschema
    from referencing import Registry, Resource

    if kind == "cve":
        from cvelib.cve_api import CveRecord, CveRecordValidationError

        try:
            CveRecord.validate(doc)
            return []
        except CveRecordValidationError as e:
            return [str(x.message) for x in e.errors]
    path = HERE / ("osv/schema.json" if kind == "osv" else "csaf-2.0/csaf_json_schema.json")
    schema = json.loads(path.read_text())
    resources = []
    # CSAF refers to FIRST's CVSS schemas by URL; no network here.
    for name in ("cvss-v2.0", "cvss-v3.0", "cvss-v3.1"):
        sub = json.loads((HERE / "csaf-2.0" / f"{name}.json").read_text())
        resources.append((f"https://www.first.org/cvss/{name}.json", Resource.from_contents(sub)))
    registry = Registry().with_resources(resources)
    cls = jsonschema.validators.validator_for(schema)
    v = cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def main():
    kind = sys.argv[1]
    if kind == "cvss":
        from cvss import CVSS3, CVSS4

        out = {}
        for v in sys.argv[2:]:
            if v.startswith("CVSS:4.0/"):
                c = CVSS4(v)
                out[v] = [float(c.base_score), c.severity.upper()]
            else:
                c = CVSS3(v)
                out[v] = [float(c.scores()[0]), c.severities()[0].upper()]
        print(json.dumps(out))
        return 0
    doc = json.loads(pathlib.Path(sys.argv[2]).read_text())
    errors = schema_errors(kind, doc)
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


sys.exit(main())
