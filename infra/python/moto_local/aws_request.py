"""Reading an AWS JSON-protocol request (DynamoDB, SQS) at the WSGI layer, before moto sees it."""
import io
import json

# X-Amz-Target prefixes of the JSON protocols the Rust SDK speaks, by service.
_TARGETS = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs"}


def target(environ):
    """(service, action) of a JSON-protocol request, or (None, None) for anything else."""
    prefix, _, action = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
    service = _TARGETS.get(prefix)
    return (service, action) if service and action else (None, None)


def read_body(environ) -> bytes:
    """The request body; the stream is replaced so moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length > 0:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def payload(body: bytes):
    """The JSON object of a request body, or {} when it is not one (moto reports that itself)."""
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def resources(service, payload) -> list:
    """The resource names a request targets: DynamoDB table names (single, batch and
    transaction requests) or the SQS queue URL (or name, for CreateQueue/GetQueueUrl)."""
    found = []

    def add(value):
        if isinstance(value, str):
            found.append(value)

    if service == "dynamodb":
        add(payload.get("TableName"))
        items = payload.get("RequestItems")
        if isinstance(items, dict):
            found.extend(k for k in items if isinstance(k, str))
        for item in payload.get("TransactItems") or []:
            if isinstance(item, dict):
                for op in item.values():
                    if isinstance(op, dict):
                        add(op.get("TableName"))
    elif service == "sqs":
        add(payload.get("QueueUrl"))
        add(payload.get("QueueName"))
    return found
