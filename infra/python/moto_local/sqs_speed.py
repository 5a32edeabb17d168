"""SQS without moto 5.2.5's slow paths, same answers.

Under load two things make moto's SQS cost grow with the queue's depth, so 2,000 queued messages
turn every call into milliseconds of CPU:
- `Queue.attributes` computes every attribute, the three `ApproximateNumberOf*` counts included
  (each a scan of the whole queue), and moto reads it for one flag several times per message
  sent (`ContentBasedDeduplication`) and three times per name in GetQueueAttributes.
  Here it is a read-only mapping whose values are computed when read, so a flag costs a flag.
- Every "now" goes through naive `datetime` objects (`utcnow() - utcfromtimestamp(0)`), called
  twice per queued message per scan. Here "now" is `time.time()`; an explicit datetime argument
  is still converted by moto's own function.
"""
import time
from collections.abc import Mapping

from moto.core import utils as core_utils
from moto.core.utils import camelcase_to_underscores
from moto.sqs import models


def install() -> None:
    _fast_clock()
    models.Queue.attributes = property(lambda queue: QueueAttributes(queue))


def _fast_clock() -> None:
    moto_unix_time = core_utils.unix_time

    def unix_time(dt=None):
        return time.time() if dt is None else moto_unix_time(dt)

    def unix_time_millis(dt=None):
        return unix_time(dt) * 1000.0

    # moto's SQS module imported the functions by name.
    models.unix_time = unix_time
    models.unix_time_millis = unix_time_millis


class QueueAttributes(Mapping):
    """`Queue.attributes` as moto builds it (same names, same values, booleans as "true" /
    "false", `RedrivePolicy` as JSON), each value computed when it is read."""

    def __init__(self, queue):
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        self._names = names

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        queue = self._queue
        if name == "Policy" and queue.policy:
            return queue.policy
        if name == "RedrivePolicy" and queue.redrive_policy:
            return models.json.dumps(queue.redrive_policy)
        value = getattr(queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __contains__(self, name):
        return name in self._names
