"""AWS errors shaped as each service's JSON protocol answers them, so the SDK parses them as real."""
import json
import uuid

_NAMESPACE = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}
# Secrets Manager speaks JSON 1.1; DynamoDB and SQS JSON 1.0.
_CONTENT_TYPE = {"secretsmanager": "application/x-amz-json-1.1"}


def body_and_headers(service, status, code, message, query_code=None, qualified=False):
    """Body and headers of an error answer.

    DynamoDB (JSON 1.0): `{"__type": "com.amazonaws.dynamodb.v20120810#Code", "message": ...}`.
    SQS (JSON 1.0, query-compatible): `__type` names the model's error shape and the
    `x-amzn-query-error` header carries the query-protocol code (`Code;Sender`), which the SDK
    reports as the error's code (e.g. shape `QueueDoesNotExist`, code
    `AWS.SimpleQueueService.NonExistentQueue`).
    With `qualified`, `code` is the `__type` as AWS writes it (errors of AWS's authentication
    layer are namespaced `com.amazon.coral.service#...`, Secrets Manager's not at all).
    """
    if qualified:
        error_type = code
        query_code = query_code or code.rpartition("#")[2]
    else:
        error_type = f"{_NAMESPACE.get(service, service or 'aws')}#{code}"
    body = json.dumps({"__type": error_type, "message": message}).encode()
    headers = [
        ("Content-Type", _CONTENT_TYPE.get(service, "application/x-amz-json-1.0")),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("Content-Length", str(len(body))),
    ]
    if service == "sqs":
        fault = "Sender" if int(status) < 500 else "Receiver"
        headers.append(("x-amzn-query-error", f"{query_code or code};{fault}"))
    return body, headers


def respond(start_response, service, status, code, message, query_code=None, qualified=False):
    """Answers the WSGI request with the error; returns the body iterable."""
    body, headers = body_and_headers(service, status, code, message, query_code, qualified)
    start_response(f"{int(status)} {_REASONS.get(int(status), 'Error')}", headers)
    return [body]


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
