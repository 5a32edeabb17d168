"""Fault and latency injection for tests: `/_local/faults` on the local moto.

    POST   /_local/faults   {"service": "dynamodb"|"sqs", "action": "PutItem" (optional: any),
                             "match": "<substring of a table name or queue URL>",
                             "error": {"status": 400, "code": "ThrottlingException",
                                       "message": "...", "query_code": "..." (SQS, optional)},
                             "count": N,            # with "error": the next N matching calls fail
                             "latency_ms": M}       # every matching call waits M ms, until cleared
                            -> 201 {"id": ...}
    GET    /_local/faults   -> 200 {"faults": [... with "remaining"]}
    DELETE /_local/faults?match=PREFIX  -> 200 {"removed": K}: every rule whose match starts so

Rules are scoped by resource name because the whole suite shares one moto, each test with its
own name prefix; a request matches when one of its tables (batch and transaction requests
included) or its queue URL contains the rule's substring. Errors are shaped as the service's
JSON protocol answers them (see aws_errors), so the SDK classifies them as it would AWS's.
"""
import json
import threading
import time
from urllib.parse import parse_qs

from . import aws_errors, aws_request

PATH = "/_local/faults"
_SERVICES = ("dynamodb", "sqs")


class BadRule(ValueError):
    pass


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._next_id = 1

    # --- admin endpoint -------------------------------------------------------------------
    def admin(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if method == "POST":
                rule = _parse_rule(aws_request.read_body(environ))
                with self._lock:
                    rule["id"] = self._next_id
                    self._next_id += 1
                    self._rules.append(rule)
                return _json(start_response, 201, {"id": rule["id"]})
            if method == "GET":
                with self._lock:
                    return _json(start_response, 200, {"faults": [dict(r) for r in self._rules]})
            if method == "DELETE":
                prefix = parse_qs(environ.get("QUERY_STRING", "")).get("match", [""])[0]
                if not prefix:
                    raise BadRule("DELETE needs ?match=PREFIX (the suite shares this moto)")
                with self._lock:
                    kept = [r for r in self._rules if not r["match"].startswith(prefix)]
                    removed = len(self._rules) - len(kept)
                    self._rules = kept
                return _json(start_response, 200, {"removed": removed})
        except BadRule as err:
            return _json(start_response, 400, {"error": str(err)})
        return _json(start_response, 405, {"error": "use POST, GET or DELETE"})

    # --- request path ---------------------------------------------------------------------
    def wrap(self, app):
        """A WSGI app that answers matching requests with the injected error and/or delay."""

        def with_faults(environ, start_response):
            if not self._rules:  # nothing injected: no parsing on the hot path
                return app(environ, start_response)
            service, action = aws_request.target(environ)
            if service is None:
                return app(environ, start_response)
            names = aws_request.resources(
                service, aws_request.payload(aws_request.read_body(environ))
            )
            delay_ms, error = self._decide(service, action, names)
            if delay_ms:
                time.sleep(delay_ms / 1000.0)
            if error is not None:
                return aws_errors.respond(start_response, service, **error)
            return app(environ, start_response)

        return with_faults

    def _decide(self, service, action, names):
        """The delay (largest matching) and the error (first matching rule with calls left,
        which uses one up); a rule with nothing left to do is dropped."""
        delay_ms, error = 0, None
        with self._lock:
            for rule in self._rules:
                if rule["service"] != service or rule["action"] not in (None, action):
                    continue
                if not any(rule["match"] in name for name in names):
                    continue
                delay_ms = max(delay_ms, rule["latency_ms"])
                if error is None and rule["remaining"] > 0:
                    rule["remaining"] -= 1
                    error = dict(rule["error"])
            self._rules = [r for r in self._rules if r["remaining"] > 0 or r["latency_ms"] > 0]
        return delay_ms, error


def _parse_rule(body: bytes) -> dict:
    try:
        spec = json.loads(body or b"{}")
    except ValueError as err:
        raise BadRule(f"body is not JSON: {err}") from None
    if not isinstance(spec, dict):
        raise BadRule("body must be a JSON object")
    service = spec.get("service")
    if service not in _SERVICES:
        raise BadRule(f"service must be one of {_SERVICES}")
    action = spec.get("action")
    if action is not None and (not isinstance(action, str) or not action):
        raise BadRule("action must be a non-empty string (or absent for any action)")
    match = spec.get("match")
    if not isinstance(match, str) or not match:
        raise BadRule("match must be a non-empty substring of a table name or queue URL")
    latency_ms = spec.get("latency_ms", 0)
    if not _is_int(latency_ms) or not 0 <= latency_ms <= 600_000:
        raise BadRule("latency_ms must be an integer from 0 to 600000")
    error, remaining = spec.get("error"), 0
    if error is not None:
        error = _parse_error(error)
        remaining = spec.get("count", 1)
        if not _is_int(remaining) or remaining < 1:
            raise BadRule("count must be an integer of at least 1")
    elif "count" in spec:
        raise BadRule("count needs an error")
    if error is None and latency_ms == 0:
        raise BadRule("give an error, a latency_ms, or both")
    return {
        "service": service,
        "action": action,
        "match": match,
        "error": error,
        "remaining": remaining,
        "latency_ms": latency_ms,
    }


def _parse_error(error) -> dict:
    if not isinstance(error, dict):
        raise BadRule("error must be an object {status, code, message}")
    status, code = error.get("status", 400), error.get("code")
    message = error.get("message", "")
    query_code = error.get("query_code")
    if not _is_int(status) or not 400 <= status <= 599:
        raise BadRule("error.status must be an HTTP error status (400-599)")
    if not isinstance(code, str) or not code:
        raise BadRule("error.code must be a non-empty string")
    if not isinstance(message, str):
        raise BadRule("error.message must be a string")
    if query_code is not None and (not isinstance(query_code, str) or not query_code):
        raise BadRule("error.query_code must be a non-empty string")
    return {"status": status, "code": code, "message": message, "query_code": query_code}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json(start_response, status, value):
    body = json.dumps(value).encode()
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 405: "Method Not Allowed"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
