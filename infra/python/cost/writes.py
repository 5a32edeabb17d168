"""Which items a phase writes: every DynamoDB write request broken into its items (a transaction's
puts, updates, deletes and condition checks one by one), grouped by item kind (`pk` and `sk`
up to their first `#`), with size and write units per message. The bill says what is dear; this
says why."""

from collections import defaultdict

from moto_local.item_size import item_size

from .dynamo_units import Sizer, key_of, write_units
from .recording import Call

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")


def kind(key: tuple) -> str:
    pk, sk = (part or "" for part in key)
    return f"{pk.split('#', 1)[0]}/{sk.split('#', 1)[0]}"


def _entries(call: Call, sizer: Sizer):
    """(operation, item kind, bytes, write units) of each item `call` writes or checks."""
    if call.action == "TransactWriteItems":
        for entry in call.body.get("TransactItems", []):
            (op, body), = entry.items()
            if op == "Put":
                item = body.get("Item", {})
                size = item_size(item)
            elif op == "Update":
                item = body.get("Key", {})
                size = sizer.of_update(body)
            else:
                item = body.get("Key", {})
                size = sizer.of_key(item)
            yield f"tx {op}", kind(key_of(item)), size, 2 * write_units(size)
    elif call.action == "PutItem":
        item = call.body.get("Item", {})
        size = item_size(item)
        yield "PutItem", kind(key_of(item)), size, write_units(size)
    elif call.action in ("UpdateItem", "DeleteItem"):
        key = call.body.get("Key", {})
        size = sizer.of_update(call.body) if call.action == "UpdateItem" else sizer.of_key(key)
        yield call.action, kind(key_of(key)), size, write_units(size)


def breakdown(calls: list[Call], sizer: Sizer, messages: int) -> list[tuple]:
    """Rows (operation, item kind, items per message, mean bytes, write units per message)."""
    rows = defaultdict(lambda: [0, 0, 0])
    for call in calls:
        if call.service == "dynamodb" and call.action in WRITES:
            for op, item_kind, size, wru in _entries(call, sizer):
                row = rows[(op, item_kind)]
                row[0] += 1
                row[1] += size
                row[2] += wru
    return [(op, k, n / messages, size / n, wru / messages)
            for (op, k), (n, size, wru) in sorted(rows.items(), key=lambda r: -r[1][2])]


def render(title: str, rows: list[tuple]) -> str:
    out = [title, f"  {'operation':<20}{'item':<28}{'items':>8}{'bytes':>8}{'WRU':>8}"]
    for op, item_kind, n, size, wru in rows:
        out.append(f"  {op:<20}{item_kind:<28}{n:>8.2f}{size:>8.0f}{wru:>8.2f}")
    out.append(f"  total {sum(r[4] for r in rows):.2f} WRU per message")
    return "\n".join(out)
