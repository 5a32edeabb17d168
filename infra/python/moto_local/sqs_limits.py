"""SQS limits moto 5.2.5 gets wrong or ignores, answered with SQS's errors.

- Visibility: a message's visibility may not end more than 12 h (43,200 s) after its receive.
  moto counts from the send (so it refuses extensions AWS allows on a message that waited),
  and its ChangeMessageVisibilityBatch fails the whole request instead of the one entry.
- Batches: at most 10 entries for ChangeMessageVisibilityBatch and DeleteMessageBatch too
  (moto checks SendMessageBatch only).
- Size: a message, body and attributes (name, type and value), is at most 1 MiB
  (1,048,576 bytes) and so is a SendMessageBatch's total. moto counts the body's characters,
  not bytes, and ignores attributes.
- FIFO: a MessageDeduplicationId is remembered for 5 minutes from its first send, even when
  that message was deleted; moto only compares with messages still in the queue.

Everything is kept per queue (the suite shares one moto, each test with its own queues).
"""
import base64
import threading

from moto.core.utils import unix_time_millis
from moto.sqs import models
from moto.sqs.exceptions import (
    BatchRequestTooLong,
    InvalidParameterValue,
    ReceiptHandleIsInvalid,
    TooManyEntriesInBatchRequest,
)

MAX_VISIBILITY_SECONDS = 43_200
MAX_MESSAGE_BYTES = 1_048_576
MAX_BATCH_ENTRIES = 10
DEDUPLICATION_MS = 5 * 60 * 1000


def install() -> None:
    _visibility_from_receive()
    _batch_limits()
    _sizes()
    _deduplication_memory()


# --- visibility ---------------------------------------------------------------------------
def _visibility_from_receive() -> None:
    mark_received = models.Message.mark_received

    def mark_received_now(self, visibility_timeout=None):
        mark_received(self, visibility_timeout)
        self.local_received_at = unix_time_millis()

    models.Message.mark_received = mark_received_now

    def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
        queue = self.get_queue(queue_name)
        for message in queue._messages:
            if not message.had_receipt_handle(receipt_handle):
                continue
            received_at = getattr(message, "local_received_at", None) or message.sent_timestamp
            ends_at = unix_time_millis() + int(visibility_timeout) * 1000
            if ends_at - received_at > MAX_VISIBILITY_SECONDS * 1000:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. "
                    "Reason: Total VisibilityTimeout for the message is beyond the limit "
                    f"[{MAX_VISIBILITY_SECONDS} seconds]."
                )
            message.change_visibility(visibility_timeout)
            if message.visible and message in queue.pending_messages:
                queue.pending_messages.remove(message)
            return
        raise ReceiptHandleIsInvalid()

    def change_message_visibility_batch(self, queue_name, entries):
        _at_most_ten(entries)
        success, failed = [], []
        for entry in entries:
            try:
                timeout = int(entry["VisibilityTimeout"])
                if not 0 <= timeout <= MAX_VISIBILITY_SECONDS:
                    raise ValueError(timeout)
            except (KeyError, TypeError, ValueError):  # moto's own answer for these, kept
                failed.append(
                    {"Id": entry.get("Id"), "SenderFault": True, "Code": "InvalidParameterValue",
                     "Message": "Visibility timeout invalid"}
                )
                continue
            try:
                self.change_message_visibility(queue_name, entry.get("ReceiptHandle"), timeout)
                success.append(entry.get("Id"))
            except (InvalidParameterValue, ReceiptHandleIsInvalid) as err:
                failed.append(
                    {"Id": entry.get("Id"), "SenderFault": True, "Code": err.code,
                     "Message": err.message}
                )
        return success, failed

    models.SQSBackend.change_message_visibility = change_message_visibility
    models.SQSBackend.change_message_visibility_batch = change_message_visibility_batch


# --- batch entry counts -------------------------------------------------------------------
def _at_most_ten(entries) -> None:
    if len(entries) > MAX_BATCH_ENTRIES:
        raise TooManyEntriesInBatchRequest(len(entries))


def _batch_limits() -> None:
    delete_message_batch = models.SQSBackend.delete_message_batch

    def delete_at_most_ten(self, queue_name, receipts):
        _at_most_ten(receipts)
        return delete_message_batch(self, queue_name, receipts)

    models.SQSBackend.delete_message_batch = delete_at_most_ten


# --- sizes --------------------------------------------------------------------------------
def message_bytes(body, attributes) -> int:
    """A message's size as SQS counts it: the body's UTF-8 bytes plus, for each attribute,
    its name, data type and value."""
    size = _utf8(body)
    for name, attr in (attributes or {}).items():
        size += _utf8(name)
        if isinstance(attr, dict):
            size += _utf8(attr.get("DataType"))
            if attr.get("StringValue") is not None:
                size += _utf8(attr.get("StringValue"))
            elif attr.get("BinaryValue") is not None:
                size += _binary(attr.get("BinaryValue"))
    return size


def _utf8(text) -> int:
    return len(text.encode("utf-8")) if isinstance(text, str) else 0


def _binary(data) -> int:
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    try:
        return len(base64.b64decode(data))
    except (TypeError, ValueError):
        return _utf8(data)


def _sizes() -> None:
    send_message = models.SQSBackend.send_message
    send_message_batch = models.SQSBackend.send_message_batch

    def send_within_size(self, queue_name, message_body, message_attributes=None, *args, **kw):
        queue = self.get_queue(queue_name)
        limit = min(int(queue.maximum_message_size or MAX_MESSAGE_BYTES), MAX_MESSAGE_BYTES)
        if message_bytes(message_body, message_attributes) > limit:
            raise InvalidParameterValue(
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{limit} bytes."
            )
        return send_message(self, queue_name, message_body, message_attributes, *args, **kw)

    def send_batch_within_size(self, queue_name, entries):
        _at_most_ten(entries)
        total = sum(
            message_bytes(e.get("MessageBody"), e.get("MessageAttributes"))
            for e in entries.values()
        )
        if total > MAX_MESSAGE_BYTES:
            raise BatchRequestTooLong(total)
        return send_message_batch(self, queue_name, entries)

    models.SQSBackend.send_message = send_within_size
    models.SQSBackend.send_message_batch = send_batch_within_size


# --- FIFO deduplication -------------------------------------------------------------------
def _deduplication_memory() -> None:
    add_message = models.Queue.add_message
    lock = threading.Lock()

    def add_unless_seen(self, message):
        dedup_id = getattr(message, "deduplication_id", None)
        if self.fifo_queue and dedup_id:
            by_group = self.attributes.get("DeduplicationScope") == "messageGroup"
            key = (message.group_id if by_group else None, dedup_id)
            now = message.sent_timestamp or unix_time_millis()
            with lock:
                seen = self.__dict__.setdefault("local_dedup_seen", {})
                first = seen.get(key)
                if first is not None and now - first < DEDUPLICATION_MS:
                    return  # accepted, not delivered: AWS's answer to a duplicate
                if len(seen) > 10_000:  # forget the expired ones now and then
                    for k in [k for k, t in seen.items() if now - t >= DEDUPLICATION_MS]:
                        del seen[k]
                seen[key] = now
        return add_message(self, message)

    models.Queue.add_message = add_unless_seen
