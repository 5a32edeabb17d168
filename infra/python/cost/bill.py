"""Calls and Lambda usage → a bill: per service and action, calls and capacity units per message
and dollars per million messages at the list prices in `prices`."""

import math
from collections import defaultdict
from dataclasses import dataclass, field

from . import prices
from .dynamo_units import Sizer, units
from .recording import Call


@dataclass
class Line:
    service: str
    action: str
    calls: float = 0.0
    units: float = 0.0  # capacity units (DynamoDB), GB-seconds (Lambda), chunks otherwise
    unit_name: str = ""
    dollars: float = 0.0


@dataclass
class Bill:
    lines: dict = field(default_factory=dict)

    def add(self, service, action, calls=0.0, units=0.0, unit_name="", dollars=0.0):
        line = self.lines.setdefault((service, action), Line(service, action, unit_name=unit_name))
        line.calls += calls
        line.units += units
        line.dollars += dollars

    def total(self) -> float:
        return sum(line.dollars for line in self.lines.values())

    def by_service(self) -> dict:
        out = defaultdict(float)
        for line in self.lines.values():
            out[line.service] += line.dollars
        return dict(out)

    def scaled(self, factor: float) -> "Bill":
        out = Bill()
        for (service, action), line in self.lines.items():
            out.add(service, action, line.calls * factor, line.units * factor, line.unit_name,
                    line.dollars * factor)
        return out


def add_aws_calls(bill: Bill, calls: list[Call], sizer: Sizer) -> None:
    for call in calls:
        if call.service == "sqs":
            fifo = call.queue.endswith(".fifo")
            chunks = max(1, math.ceil(call.size / prices.SQS_CHUNK))
            price = prices.SQS_FIFO_REQUEST if fifo else prices.SQS_STANDARD_REQUEST
            kind = "fifo" if fifo else "standard"
            bill.add("sqs", f"{call.action} ({kind})", 1, chunks, "requests", chunks * price)
        elif call.service == "dynamodb":
            reads, writes = units(call.action, call.body, sizer)
            bill.add("dynamodb", call.action, 1, reads + writes, "RRU" if reads else "WRU",
                     reads * prices.DYNAMODB_READ_UNIT + writes * prices.DYNAMODB_WRITE_UNIT)
        elif call.service == "secretsmanager":
            bill.add("secretsmanager", call.action, 1, 0, "", prices.SECRETS_MANAGER_CALL)
        else:
            bill.add(call.service, call.action, 1, 0, "", 0.0)


def add_index_writes(bill: Bill, index_writes: dict) -> None:
    """A global secondary index's writes: on-demand write units like the table's."""
    for index, counted in sorted(index_writes.items()):
        bill.add("dynamodb", f"index writes ({index})", counted["writes"], counted["units"], "WRU",
                 counted["units"] * prices.DYNAMODB_WRITE_UNIT)


def add_lambda(bill: Bill, function: str, invocations: float, billed_ms: float, memory_mb: float):
    gb_seconds = billed_ms / 1000 * memory_mb / 1024
    bill.add("lambda", f"{function} requests", invocations, 0, "", invocations * prices.LAMBDA_REQUEST)
    bill.add("lambda", f"{function} duration", 0, gb_seconds, "GB-s",
             gb_seconds * prices.LAMBDA_ARM64_GB_SECOND)


def add_api_gateway(bill: Bill, posts: float, chunks: float):
    bill.add("apigateway", "HTTP API POST /webhook", posts, chunks, "requests",
             chunks * prices.API_GATEWAY_HTTP_REQUEST)


def render(title: str, bill: Bill, per: str, scale: float = 1e6) -> str:
    """A table of `bill`'s lines: calls and units as counted, dollars times `scale` (per million
    messages, or per month for an hour's bill), then the total and its split by service."""
    rows = [title, f"  {'service':<15}{'action':<48}{'calls':>9}{'units':>16}  {'$ ' + per:>26}"]
    for (service, action), line in sorted(bill.lines.items()):
        units_text = f"{line.units:.3g} {line.unit_name}".strip() if line.units else ""
        rows.append(f"  {service:<15}{action:<48}{line.calls:>9.3f}{units_text:>16}  {line.dollars * scale:>26.2f}")
    by_service = ", ".join(f"{s} ${d * scale:.2f}" for s, d in sorted(bill.by_service().items()))
    rows.append(f"  total: ${bill.total() * scale:.2f} {per} ({by_service})")
    return "\n".join(rows)
