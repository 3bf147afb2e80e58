//! Names of common CWE entries (CSAF requires a name with each CWE id; CVE
//! records show one). From MITRE's CWE list; an id not here is named by
//! its id.

const NAMES: &[(&str, &str)] = &[
    ("CWE-20", "Improper Input Validation"),
    (
        "CWE-22",
        "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')",
    ),
    (
        "CWE-77",
        "Improper Neutralization of Special Elements used in a Command ('Command Injection')",
    ),
    (
        "CWE-78",
        "Improper Neutralization of Special Elements used in an OS Command ('OS Command Injection')",
    ),
    (
        "CWE-79",
        "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')",
    ),
    (
        "CWE-89",
        "Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')",
    ),
    ("CWE-94", "Improper Control of Generation of Code ('Code Injection')"),
    (
        "CWE-119",
        "Improper Restriction of Operations within the Bounds of a Memory Buffer",
    ),
    ("CWE-125", "Out-of-bounds Read"),
    ("CWE-200", "Exposure of Sensitive Information to an Unauthorized Actor"),
    ("CWE-269", "Improper Privilege Management"),
    ("CWE-276", "Incorrect Default Permissions"),
    ("CWE-284", "Improper Access Control"),
    ("CWE-287", "Improper Authentication"),
    ("CWE-306", "Missing Authentication for Critical Function"),
    ("CWE-312", "Cleartext Storage of Sensitive Information"),
    ("CWE-345", "Insufficient Verification of Data Authenticity"),
    ("CWE-352", "Cross-Site Request Forgery (CSRF)"),
    (
        "CWE-362",
        "Concurrent Execution using Shared Resource with Improper Synchronization ('Race Condition')",
    ),
    ("CWE-400", "Uncontrolled Resource Consumption"),
    ("CWE-416", "Use After Free"),
    ("CWE-434", "Unrestricted Upload of File with Dangerous Type"),
    ("CWE-476", "NULL Pointer Dereference"),
    ("CWE-502", "Deserialization of Untrusted Data"),
    ("CWE-601", "URL Redirection to Untrusted Site ('Open Redirect')"),
    ("CWE-611", "Improper Restriction of XML External Entity Reference"),
    ("CWE-639", "Authorization Bypass Through User-Controlled Key"),
    ("CWE-770", "Allocation of Resources Without Limits or Throttling"),
    ("CWE-787", "Out-of-bounds Write"),
    ("CWE-798", "Use of Hard-coded Credentials"),
    ("CWE-862", "Missing Authorization"),
    ("CWE-863", "Incorrect Authorization"),
    ("CWE-918", "Server-Side Request Forgery (SSRF)"),
    (
        "CWE-1321",
        "Improperly Controlled Modification of Object Prototype Attributes ('Prototype Pollution')",
    ),
];

/// The entry's name, or its id when this list does not have it.
pub(super) fn name(id: &str) -> &str {
    NAMES.iter().find(|(i, _)| *i == id).map_or(id, |(_, n)| n)
}
