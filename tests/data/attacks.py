#!/usr/bin/env python3
"""Hostile mail for embargo's attack tests, built with Python's own email
package as an attacker would (the tests send the result through Exim).

    attacks.py nested N FROM MESSAGE_ID       N message/rfc822 parts, each inside the last
    attacks.py many-uids KEY.asc N             the key with its user ID (and its
                                              binding signature) repeated N times, armored
    attacks.py keymail FROM MESSAGE_ID KEYFILE  a report with KEYFILE attached as
                                              application/pgp-keys

Everything goes to standard output.
"""
import base64
import email.generator
import email.message
import email.policy
import io
import sys


def nested(depth, sender, message_id):
    # Built from the inside out as bytes: Python's email package recurses
    # over message/rfc822 parts when it serialises, so for tens of thousands
    # of levels it is used for the innermost part and the outer headers,
    # and each level's wrapper is the same few header lines it would write.
    inner = email.message.EmailMessage(policy=email.policy.SMTP)
    inner["Subject"] = "innermost"
    inner.set_content("the bottom of the well\n")
    body = inner.as_bytes()
    wrapper = b"Content-Type: message/rfc822\r\nMIME-Version: 1.0\r\n\r\n"
    parts = [wrapper] * depth
    body = b"".join(parts) + body
    outer = email.message.EmailMessage(policy=email.policy.SMTP)
    outer["From"] = sender
    outer["To"] = "security@example.test"
    outer["Subject"] = "Forwarded, forwarded, forwarded"
    outer["Message-ID"] = message_id
    outer["Date"] = "Mon, 07 Dec 2026 10:00:00 +0000"
    outer["MIME-Version"] = "1.0"
    outer["Content-Type"] = "message/rfc822"
    # The outer headers as the email package folds and encodes them.
    head = b"".join(outer.policy.fold_binary(k, v) for k, v in outer.items())
    return head + b"\r\n" + body


def packets(data):
    """Splits a binary OpenPGP stream into (tag, whole packet bytes)."""
    out, i = [], 0
    while i < len(data):
        b = data[i]
        if b & 0x40:  # new format
            tag = b & 0x3F
            l0 = data[i + 1]
            if l0 < 192:
                hl, ln = 2, l0
            elif l0 < 224:
                hl, ln = 3, ((l0 - 192) << 8) + data[i + 2] + 192
            else:
                hl, ln = 6, int.from_bytes(data[i + 2:i + 6], "big")
        else:
            tag = (b >> 2) & 0x0F
            lt = b & 3
            hl = {0: 2, 1: 3, 2: 5}[lt]
            ln = int.from_bytes(data[i + 1:i + hl], "big")
        out.append((tag, data[i:i + hl + ln]))
        i += hl + ln
    return out


def dearmor(text):
    lines = text.strip().splitlines()
    body = []
    started = False
    for line in lines:
        if line.startswith("-----BEGIN"):
            started = True
            continue
        if not started:
            continue
        if line.startswith("-----END") or line.startswith("="):
            break
        if ":" in line and not body:
            continue
        if line.strip():
            body.append(line.strip())
    return base64.b64decode("".join(body))


def many_uids(keyfile, n):
    data = dearmor(open(keyfile).read())
    pk = packets(data)
    # The first user ID packet (tag 13) and its signature (tag 2) after it.
    for k, (tag, raw) in enumerate(pk):
        if tag == 13:
            uid = raw + pk[k + 1][1]
            head = b"".join(r for _, r in pk[:k])
            rest = b"".join(r for _, r in pk[k:])
            break
    blob = head + uid * n + rest
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join(lines)
            + "\n-----END PGP PUBLIC KEY BLOCK-----\n").encode()


def keymail(sender, message_id, keyfile):
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = sender
    m["To"] = "security@example.test"
    m["Subject"] = "Report, with my key"
    m["Message-ID"] = message_id
    m["Date"] = "Mon, 07 Dec 2026 10:00:00 +0000"
    m.set_content("Steps to reproduce: see attached key.\n")
    m.add_attachment(open(keyfile, "rb").read(), maintype="application",
                     subtype="pgp-keys", filename="key.asc")
    buf = io.BytesIO()
    email.generator.BytesGenerator(buf, policy=email.policy.SMTP).flatten(m)
    return buf.getvalue()


def main(argv):
    what = argv[1]
    if what == "nested":
        out = nested(int(argv[2]), argv[3], argv[4])
    elif what == "many-uids":
        out = many_uids(argv[2], int(argv[3]))
    elif what == "keymail":
        out = keymail(argv[2], argv[3], argv[4])
    else:
        sys.exit(f"unknown attack {what!r}")
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main(sys.argv)
