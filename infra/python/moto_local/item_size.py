"""DynamoDB's item size, computed as AWS documents it ("DynamoDB item sizes and formats")."""
import base64
from decimal import Decimal, InvalidOperation

# 400 KB as DynamoDB counts it (KB = 1024 bytes).
MAX_ITEM_BYTES = 400 * 1024
# TransactWriteItems: "the aggregate size of the items in the transaction cannot exceed 4 MB".
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024


def item_size(item) -> int:
    """Size of an item in DynamoDB JSON (`{"name": {"S": "..."}}`): names plus values."""
    if not isinstance(item, dict):
        return 0
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


def value_size(value) -> int:
    """Strings: UTF-8 bytes; numbers: 1 byte per 2 significant digits + 1; binary: raw bytes;
    null/bool: 1; list/map: 3 + 1 per element + the elements; sets: the elements."""
    if not isinstance(value, dict) or len(value) != 1:
        return 0
    kind, v = next(iter(value.items()))
    if kind == "S":
        return _utf8(v)
    if kind == "N":
        return _number(v)
    if kind == "B":
        return _binary(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(x) for x in _list(v))
    if kind == "NS":
        return sum(_number(x) for x in _list(v))
    if kind == "BS":
        return sum(_binary(x) for x in _list(v))
    if kind == "L":
        elements = _list(v)
        return 3 + len(elements) + sum(value_size(x) for x in elements)
    if kind == "M":
        members = v if isinstance(v, dict) else {}
        return 3 + len(members) + sum(_utf8(k) + value_size(x) for k, x in members.items())
    return 0


def _utf8(text) -> int:
    return len(text.encode("utf-8")) if isinstance(text, str) else 0


def _number(text) -> int:
    try:
        digits = Decimal(str(text)).normalize().as_tuple().digits
    except (InvalidOperation, ValueError):
        return 0
    significant = len(digits)
    return (significant + 1) // 2 + 1


def _binary(data) -> int:
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if isinstance(data, str):
        try:
            return len(base64.b64decode(data, validate=False))
        except ValueError:
            return len(data)
    return 0


def _list(v):
    return v if isinstance(v, list) else []
