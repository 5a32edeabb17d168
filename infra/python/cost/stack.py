"""The running local stack as the cost run sees it: moto's recorders, the runner's Lambda usage,
the simulator's customers, and crm-events.fifo / crm-commands.fifo as the CRM uses them."""

import json
import os
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass

import boto3

from . import recording

INDEX_WRITES = "/_local/dynamodb-index-writes"  # on the DynamoDB moto (MOTO_PORT + 1)


def _http(method: str, url: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


@dataclass
class Stack:
    api: str  # http://host:port of the API Gateway stand-in
    sim: str
    moto_ports: tuple[int, int]
    recordings: tuple[str, str]
    prefix: str
    phone_number_id: str
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, root: str) -> "Stack":
        port = int(os.environ.get("MOTO_PORT", "4566"))
        return cls(
            api="http://" + os.environ.get("LOCAL_API_ADDR", "127.0.0.1:3000"),
            sim="http://" + os.environ.get("LOCAL_SIM_ADDR", "127.0.0.1:3001"),
            moto_ports=(port, port + 1),
            recordings=tuple(f"{root}/.local/moto-{p}.recording" for p in (port, port + 1)),
            prefix=os.environ.get("LOCAL_RESOURCE_PREFIX", ""),
            phone_number_id=os.environ.get("GRAPH_SIM_PHONE_NUMBER_ID", "106540352242922"),
            region=os.environ.get("AWS_REGION", "us-east-1"),
        )

    # moto's recorders (one per moto process)
    def restart_recording(self) -> None:
        _http("DELETE", f"http://127.0.0.1:{self.moto_ports[1]}{INDEX_WRITES}")
        for port in self.moto_ports:
            _http("POST", f"http://127.0.0.1:{port}/moto-api/recorder/reset-recording")
            _http("POST", f"http://127.0.0.1:{port}/moto-api/recorder/start-recording")

    def stop_recording(self) -> list[recording.Call]:
        for port in self.moto_ports:
            _http("POST", f"http://127.0.0.1:{port}/moto-api/recorder/stop-recording")
        return [call for path in self.recordings for call in recording.read(path)]

    def index_writes(self) -> dict:
        """The global secondary indexes' writes since the recording restarted, by index
        (`moto_local/dynamodb_index_writes.py`: moto does not count them, DynamoDB bills them)."""
        return json.loads(_http("GET", f"http://127.0.0.1:{self.moto_ports[1]}{INDEX_WRITES}"))

    def lambda_usage(self) -> dict:
        return json.loads(_http("GET", f"{self.api}/_local/lambda-usage"))

    # the customers (the simulator signs and posts Meta's webhook)
    def customer_writes(self, phone: str, text: str) -> None:
        answer = json.loads(_http("POST", f"{self.sim}/_sim/inbound", {"from": phone, "text": text}))
        if answer.get("webhook_status") != 200:
            raise RuntimeError(f"the webhook answered {answer.get('webhook_status')}")

    # the CRM (the local administrator)
    def _sqs(self):
        return boto3.client("sqs", region_name=self.region)

    def table_items(self) -> list[dict]:
        ddb = boto3.client("dynamodb", region_name=self.region)
        items, start = [], None
        while True:
            page = ddb.scan(TableName=f"{self.prefix}wa-crm-bridge",
                            **({"ExclusiveStartKey": start} if start else {}))
            items += page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def send_command(self, command: dict, group: str) -> None:
        sqs = self._sqs()
        url = sqs.get_queue_url(QueueName=f"{self.prefix}crm-commands.fifo")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(command), MessageGroupId=group,
                         MessageDeduplicationId=command["command_id"])

    def wait_until_drained(self, quiet_seconds: float = 3.0) -> None:
        """Until the bridge's queues have had nothing visible or in flight for `quiet_seconds`."""
        sqs = self._sqs()
        urls = [sqs.get_queue_url(QueueName=f"{self.prefix}{q}")["QueueUrl"]
                for q in ("inbound", "crm-commands.fifo")]
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            time.sleep(0.5)
            for url in urls:
                counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
                if any(int(v) for v in counts["Attributes"].values()):
                    quiet_since = time.monotonic()

    def read_events(self, wanted: Counter, timeout: float) -> Counter:
        """Reads (and deletes) crm-events.fifo until `wanted` events have all arrived, counted by
        type and, for statuses, also as `message.status:<status>` (a status that would move a
        message backwards is never an event, so a late `delivered` after `read` has none)."""
        sqs = self._sqs()
        url = sqs.get_queue_url(QueueName=f"{self.prefix}crm-events.fifo")["QueueUrl"]
        seen: Counter = Counter()
        deadline = time.monotonic() + timeout
        while any(seen[t] < n for t, n in wanted.items()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out: wanted {dict(wanted)}, saw {dict(seen)}")
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = answer.get("Messages", [])
            for message in messages:
                event = json.loads(message["Body"])
                seen[event.get("type", "")] += 1
                if event.get("type") == "message.status":
                    seen[f"message.status:{event.get('data', {}).get('status')}"] += 1
            if messages:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        return seen
