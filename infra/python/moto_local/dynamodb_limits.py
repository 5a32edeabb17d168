"""DynamoDB limits moto 5.2.5 does not enforce, answered with DynamoDB's errors.

- BatchWriteItem: at most 25 put/delete requests (moto takes any number).
- PutItem and BatchWriteItem puts: an item of at most 400 KB by AWS's size rules (moto checks
  its own approximation, which counts no list/map overhead, at 405,000 bytes).
- TransactWriteItems: the aggregate size of the items at most 4 MB (moto has no such check;
  its limit of 100 actions is kept).

The checks run in moto's request handler before anything is written, so a refused request
changes nothing, as in AWS.
"""
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.responses import DynamoHandler

from .item_size import MAX_ITEM_BYTES, MAX_TRANSACTION_BYTES, item_size

MAX_BATCH_WRITE_REQUESTS = 25
ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"


def install() -> None:
    _before(DynamoHandler, "put_item", _check_put_item)
    _before(DynamoHandler, "batch_write_item", _check_batch_write)
    _before(DynamoHandler, "transact_write_items", _check_transaction)


def _before(cls, name, check):
    original = getattr(cls, name)

    def checked(self, *args, **kwargs):
        check(self.body if isinstance(self.body, dict) else {})
        return original(self, *args, **kwargs)

    checked.__name__ = name
    setattr(cls, name, checked)


def _check_put_item(body) -> None:
    if item_size(body.get("Item")) > MAX_ITEM_BYTES:
        raise MockValidationException(ITEM_TOO_LARGE)


def _check_batch_write(body) -> None:
    tables = body.get("RequestItems")
    if not isinstance(tables, dict):
        return
    total = 0
    for name, requests in tables.items():
        count = len(requests) if isinstance(requests, list) else 0
        if count > MAX_BATCH_WRITE_REQUESTS:
            writes = ", ".join("com.amazonaws.dynamodb.v20120810.WriteRequest" for _ in requests)
            raise MockValidationException(
                f"1 validation error detected: Value '{{{name}=[{writes}]}}' at 'requestItems' "
                "failed to satisfy constraint: Map value must satisfy constraint: [Member must "
                "have length less than or equal to 25, Member must have length greater than or "
                "equal to 1]"
            )
        total += count
        for request in requests if isinstance(requests, list) else []:
            put = request.get("PutRequest") if isinstance(request, dict) else None
            if isinstance(put, dict) and item_size(put.get("Item")) > MAX_ITEM_BYTES:
                raise MockValidationException(ITEM_TOO_LARGE)
    if total > MAX_BATCH_WRITE_REQUESTS:
        raise MockValidationException("Too many items requested for the BatchWriteItem call")


def _check_transaction(body) -> None:
    total = 0
    for action in body.get("TransactItems") or []:
        if not isinstance(action, dict):
            continue
        for kind, op in action.items():
            if not isinstance(op, dict):
                continue
            if kind == "Put":
                size = item_size(op.get("Item"))
                if size > MAX_ITEM_BYTES:
                    raise MockValidationException(ITEM_TOO_LARGE)
            else:  # Update, Delete, ConditionCheck: the key plus the values the action writes
                size = item_size(op.get("Key")) + item_size(op.get("ExpressionAttributeValues"))
            total += size
    if total > MAX_TRANSACTION_BYTES:
        raise MockValidationException(
            f"Transaction request cannot be larger than 4 MB (the items in it total {total} bytes)"
        )
