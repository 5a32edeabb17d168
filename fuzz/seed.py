#!/usr/bin/env python3
"""Seeds each fuzz target's corpus (fuzz/corpus/<target>/, not committed) from events/ and the
small hand-written set in fuzz/seeds/. Idempotent: a seed is named by its content's hash."""

import base64
import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SEEDS = ROOT / "fuzz" / "seeds"
CORPUS = ROOT / "fuzz" / "corpus"


def put(target: str, data: bytes) -> None:
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data)


def webhook_posts():
    """(signature header, raw body) of every API Gateway POST fixture."""
    for path in sorted(EVENTS.glob("webhook-post-*.json")):
        event = json.loads(path.read_text())
        body = event.get("body") or ""
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        yield headers.get("x-hub-signature-256", "").encode(), raw


def main() -> None:
    meta = [p.read_bytes() for p in sorted((EVENTS / "meta").glob("*.json"))]
    for header, body in webhook_posts():
        put("webhook_verify_split", header + b"\n" + body)
        put("processor_update", body)
    for body in meta:
        put("processor_update", body)
        put("webhook_verify_split", b"\n" + body)
    for target in ("sender_command", "sender_recipient", "graph_answer"):
        for seed in sorted((SEEDS / target).glob("*")):
            put(target, seed.read_bytes())
    # Every `to` a command seed names is a recipient seed too.
    for seed in sorted((SEEDS / "sender_command").glob("*.json")):
        to = json.loads(seed.read_text()).get("to")
        if isinstance(to, str):
            put("sender_recipient", to.encode())
    # The identities Meta sends (wa_id, from) are what a CRM copies into `to`.
    for body in meta:
        for number in set(re.findall(rb'"(\d{6,15})"', body)):
            put("sender_recipient", number)
    for target in sorted(p.name for p in CORPUS.iterdir()):
        print(f"seeded {target}: {len(list((CORPUS / target).iterdir()))} inputs")


if __name__ == "__main__":
    main()
