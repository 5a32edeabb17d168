"""The write units DynamoDB bills on global secondary indexes, which moto does not count.

A write to the table also writes each index whose entry it creates, changes or removes, by
DynamoDB's rules ("Provisioned throughput considerations for Global Secondary Indexes"):
- an item that enters an index (it now has the index's key attributes) or leaves it: one write;
- an item whose index key changes: two (the old entry deleted, the new one put);
- an item whose index key stays: one write if a projected attribute changed, none otherwise
  (a KEYS_ONLY index's entry changes only with its keys);
- an item in no index before or after: nothing.
Each index write is billed per started KB of the index entry (the table's and the index's keys
plus the projected attributes).

Counted per request: a request that fails (a refused condition, a cancelled transaction) writes
no index and counts nothing. `make cost` reads the totals at `PATH` (GET) and resets them
(DELETE) around each phase.
"""
import copy
import json
import math
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from .item_size import item_size

PATH = "/_local/dynamodb-index-writes"
WRITE_UNIT_BYTES = 1024

_lock = threading.Lock()
_totals: dict = {}  # index name -> {"writes": n, "units": n}
_request = threading.local()  # this request's index writes, kept only if it succeeds


def install() -> None:
    for name in ("put_item", "update_item", "delete_item"):
        _measure(name)
    for name in ("put_item", "update_item", "delete_item", "batch_write_item",
                 "transact_write_items"):
        _scope(name)


def entry(index, table, attrs: dict | None) -> dict | None:
    """The index entry an item (DynamoDB JSON attributes) has, or None when the item lacks one of
    the index's key attributes (a sparse index leaves it out)."""
    if attrs is None:
        return None
    keys = [k["AttributeName"] for k in index.schema]
    if any(k not in attrs for k in keys):
        return None
    names = set(keys) | {table.hash_key_attr} | ({table.range_key_attr} - {None})
    projection = index.projection or {}
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        names = set(attrs)
    elif kind == "INCLUDE":
        names |= set(projection.get("NonKeyAttributes", []))
    return {n: attrs[n] for n in names if n in attrs}


def writes(index, table, before: dict | None, after: dict | None) -> list[int]:
    """The index writes (each as its write units) that changing `before` into `after` costs."""
    old, new = entry(index, table, before), entry(index, table, after)
    if old is None and new is None:
        return []
    if old is None or new is None:
        return [_units(old if new is None else new)]
    keys = [k["AttributeName"] for k in index.schema]
    if any(old.get(k) != new.get(k) for k in keys):
        return [_units(old), _units(new)]
    return [_units(new)] if old != new else []


def totals() -> dict:
    with _lock:
        return copy.deepcopy(_totals)


def reset() -> None:
    with _lock:
        _totals.clear()


def admin(environ, start_response):
    """GET: the totals since the last reset, by index; DELETE: reset them."""
    if environ.get("REQUEST_METHOD") == "DELETE":
        reset()
    body = json.dumps(totals()).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _units(entry_attrs: dict) -> int:
    return max(1, math.ceil(item_size(entry_attrs) / WRITE_UNIT_BYTES))


def _attrs(item) -> dict | None:
    return None if item is None else copy.deepcopy(item.to_json()["Attributes"])


def _measure(name: str) -> None:
    original = getattr(DynamoDBBackend, name)

    def measured(self, table_name, *args, **kwargs):
        table = self.get_table(table_name)
        key = _key(table, name, args, kwargs)
        before = _attrs(_get(table, key)) if key is not None else None
        result = original(self, table_name, *args, **kwargs)
        after = _attrs(_get(table, key)) if key is not None else None
        pending = getattr(_request, "pending", None)
        if pending is not None:
            for index in table.global_indexes:
                for units in writes(index, table, before, after):
                    pending.append((index.name, units))
        return result

    measured.__name__ = name
    setattr(DynamoDBBackend, name, measured)


def _scope(name: str) -> None:
    original = getattr(DynamoHandler, name)

    def scoped(self, *args, **kwargs):
        _request.pending = []
        try:
            result = original(self, *args, **kwargs)
        except BaseException:
            _request.pending = None
            raise
        pending, _request.pending = _request.pending, None
        with _lock:
            for index, units in pending:
                line = _totals.setdefault(index, {"writes": 0, "units": 0})
                line["writes"] += 1
                line["units"] += units
        return result

    scoped.__name__ = name
    setattr(DynamoHandler, name, scoped)


def _key(table, name: str, args, kwargs) -> dict | None:
    """The written item's key (DynamoDB JSON) from the backend call's arguments."""
    if name == "put_item":
        attrs = args[0] if args else kwargs.get("item_attrs")
        if not isinstance(attrs, dict):
            return None
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {n: attrs[n] for n in names if n in attrs}
    key = args[0] if args else kwargs.get("key")
    return key if isinstance(key, dict) else None


def _get(table, key: dict):
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = key.get(table.hash_key_attr)
    if hash_value is None:
        return None
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    return table.get_item(DynamoType(hash_value),
                          DynamoType(range_value) if range_value is not None else None)
