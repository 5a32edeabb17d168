"""DynamoDB capacity units of recorded requests, by AWS's rules: a write costs one unit per 1 KB
of the item (the larger of before and after for an update; sizes as `moto_local.item_size`
computes them), a strongly consistent read one unit
per 4 KB (half for eventually consistent), and transactions twice that.

The recorder holds requests, not responses, so an item's size comes from the request when the
request carries the whole item, else from the item as the table holds it after the run (items
mostly grow, so that is the larger side), else from the key. A Query is billed as one read of at
most 4 KB: the bridge's queries return a contact's few items or one due-index page."""

import math

from moto_local.item_size import item_size, value_size

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def key_of(item: dict) -> tuple:
    return (item.get("pk", {}).get("S"), item.get("sk", {}).get("S"))


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units / 2


class Sizer:
    """Item sizes as the table holds them after the run, by key."""

    def __init__(self, items: list[dict]):
        self.sizes = {key_of(item): item_size(item) for item in items}

    def of_key(self, key: dict) -> int:
        return self.sizes.get(key_of(key), item_size(key))

    def of_update(self, request: dict) -> int:
        key = request.get("Key", {})
        guess = item_size(key) + sum(
            value_size(v) for v in request.get("ExpressionAttributeValues", {}).values()
        )
        return max(self.sizes.get(key_of(key), 0), guess)


def units(action: str, body: dict, sizer: Sizer) -> tuple[float, float]:
    """(read units, write units) of one DynamoDB request."""
    if action == "PutItem":
        return 0, write_units(item_size(body.get("Item", {})))
    if action == "UpdateItem":
        return 0, write_units(sizer.of_update(body))
    if action == "DeleteItem":
        return 0, write_units(sizer.of_key(body.get("Key", {})))
    if action == "GetItem":
        return read_units(sizer.of_key(body.get("Key", {})), bool(body.get("ConsistentRead"))), 0
    if action in ("Query", "Scan"):
        return read_units(READ_UNIT_BYTES, bool(body.get("ConsistentRead"))), 0
    if action == "BatchGetItem":
        reads = 0.0
        for request in body.get("RequestItems", {}).values():
            for key in request.get("Keys", []):
                reads += read_units(sizer.of_key(key), bool(request.get("ConsistentRead")))
        return reads, 0
    if action == "BatchWriteItem":
        writes = 0
        for requests in body.get("RequestItems", {}).values():
            for request in requests:
                if "PutRequest" in request:
                    writes += write_units(item_size(request["PutRequest"].get("Item", {})))
                else:
                    writes += write_units(sizer.of_key(request.get("DeleteRequest", {}).get("Key", {})))
        return 0, writes
    if action == "TransactWriteItems":
        writes = 0
        for entry in body.get("TransactItems", []):
            if "Put" in entry:
                size = item_size(entry["Put"].get("Item", {}))
            elif "Update" in entry:
                size = sizer.of_update(entry["Update"])
            elif "Delete" in entry:
                size = sizer.of_key(entry["Delete"].get("Key", {}))
            else:  # ConditionCheck
                size = sizer.of_key(entry.get("ConditionCheck", {}).get("Key", {}))
            writes += 2 * write_units(size)
        return 0, writes
    if action == "TransactGetItems":
        reads = 0.0
        for entry in body.get("TransactItems", []):
            reads += 2 * read_units(sizer.of_key(entry.get("Get", {}).get("Key", {})), True)
        return reads, 0
    return 0, 0  # control plane (DescribeTable, …): not billed per request
