"""moto's request recordings, read back as calls: which service and action, who made it (the
access key id of the signature), and its body."""

import base64
import json
import re
from dataclasses import dataclass

_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")


@dataclass
class Call:
    service: str  # "sqs", "dynamodb", "secretsmanager", …
    action: str
    access_key_id: str
    body: dict
    size: int  # bytes of the request body

    @property
    def queue(self) -> str:
        return str(self.body.get("QueueUrl", "")).rsplit("/", 1)[-1]


def _header(headers: dict, name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def parse(line: str) -> Call | None:
    entry = json.loads(line)
    headers = entry.get("headers", {})
    raw = entry.get("body") or ""
    data = base64.b64decode(raw) if entry.get("body_encoded") else raw.encode()
    credential = _CREDENTIAL.search(_header(headers, "Authorization"))
    if not credential:
        return None  # unsigned: the runner's own /moto-api or /_local calls
    access_key_id, scope = credential.groups()
    target = _header(headers, "X-Amz-Target")
    if target:
        prefix, action = target.rsplit(".", 1)
        service = {"AmazonSQS": "sqs", "secretsmanager": "secretsmanager"}.get(prefix, scope)
        if prefix.startswith("DynamoDB"):
            service = "dynamodb"
    else:
        service, action = scope, f"{entry.get('method')} {entry.get('url', '').split('?')[0]}"
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    return Call(service, action, access_key_id, body if isinstance(body, dict) else {}, len(data))


def read(path: str) -> list[Call]:
    calls = []
    try:
        with open(path) as file:
            for line in file:
                if line.strip():
                    call = parse(line)
                    if call:
                        calls.append(call)
    except FileNotFoundError:
        pass
    return calls
