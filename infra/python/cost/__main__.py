"""`make cost`: drives a fixed workload through the running local stack and prints what it would
cost on AWS. N customers write once (inbound: webhook → processor → `message.received`); the CRM
replies to each with `send_text` and the simulator posts sent, delivered and read for each reply
(reply: sender → Graph API → three status webhooks → processor). moto's recorder counts every
AWS call and its capacity units (moto_local counts the global secondary indexes' writes, which
the requests do not show); the runner reports each function's billed Lambda duration.

Per-message figures are the bridge's own: calls signed by the functions' roles, less the event
source mappings' polling and the schedule, which are fixed costs and shown apart per hour. The
CRM's own calls (reading crm-events.fifo, sending commands) are shown apart as well.
A first round of as many other customers warms the stack and is not billed (COST_WARMUP=0 skips it).
Settings: COST_CUSTOMERS (60), COST_TIMEOUT_SECONDS (600), COST_WARMUP (1)."""

import os
import sys
import time
from collections import Counter, defaultdict

from . import prices
from .bill import Bill, add_api_gateway, add_aws_calls, add_index_writes, add_lambda, render
from .dynamo_units import Sizer
from .stack import Stack
from . import writes

ADMIN_KEY = "test"  # the local administrator: the CRM and this script
# The CRM's calls; the rest of the administrator's are this script watching the queues.
CRM_ACTIONS = {"ReceiveMessage", "DeleteMessageBatch", "DeleteMessage", "SendMessage"}
POLL = "ReceiveMessage"
SCHEDULED = "window-alerts"
POLLED_QUEUES = ("inbound", "crm-commands.fifo")  # the template's event source mappings
SECRETS = 2  # the template's secrets
HOURS_PER_MONTH = 730
# AWS's SQS event source mapping, idle: five pollers, each long-polling 20 s.
AWS_IDLE_POLLS_PER_HOUR = 5 * 3600 / 20
SCHEDULE_RUNS_PER_HOUR = 60  # the template's AlertScheduleRate default, rate(1 minute)


def usage_between(before: dict, after: dict) -> dict:
    return {name: {k: after[name][k] - before.get(name, {}).get(k, 0)
                   for k in ("invocations", "billed_ms", "cold_starts")}
            | {"memory_mb": after[name]["memory_mb"], "access_key_id": after[name]["access_key_id"]}
            for name in after}


def phase(stack: Stack, drive, wanted: Counter, timeout: float):
    stack.restart_recording()
    before = stack.lambda_usage()
    started = time.monotonic()
    drive()
    seen = stack.read_events(wanted, timeout)
    elapsed = time.monotonic() - started
    stack.wait_until_drained()  # the statuses `read` overtook, and the last deletes
    calls = stack.stop_recording()
    return calls, usage_between(before, stack.lambda_usage()), seen, elapsed, stack.index_writes()


def schedule_runs(stack: Stack, runs: int, timeout: float):
    """Records `runs` whole runs of the schedule (the contacts' windows open, none due)."""
    stack.restart_recording()
    before = stack.lambda_usage()
    deadline = time.monotonic() + timeout
    while usage_between(before, stack.lambda_usage())[SCHEDULED]["invocations"] < runs:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the schedule did not run {runs} times in {timeout:.0f} s")
        time.sleep(0.5)
    time.sleep(1)  # a run's last calls after the runner saw it answer
    calls = stack.stop_recording()
    return calls, usage_between(before, stack.lambda_usage()), stack.index_writes()


def per_message(calls, usage, messages: int, sizer: Sizer, index_writes: dict):
    """The bridge's bill per message of one phase, and the CRM's apart. Polling and the schedule
    are fixed costs, billed per hour elsewhere; a queue-fed function's invocations are its
    non-empty receives. Every index write is the bridge's (the CRM writes no table)."""
    by_key = {u["access_key_id"]: name for name, u in usage.items()}
    bridge, crm = Bill(), Bill()
    polled_queue = {}
    for call in calls:
        function = by_key.get(call.access_key_id)
        if call.access_key_id == ADMIN_KEY:
            if call.action in CRM_ACTIONS:  # not this script's own queue watching
                add_aws_calls(crm, [call], sizer)
        elif function == SCHEDULED:
            continue
        elif call.action == POLL:
            polled_queue[function] = call.queue
        else:
            add_aws_calls(bridge, [call], sizer)
    add_index_writes(bridge, index_writes)
    for function, queue in polled_queue.items():
        receives = usage[function]["invocations"]
        if not receives:
            continue
        fifo = queue.endswith(".fifo")
        price = prices.SQS_FIFO_REQUEST if fifo else prices.SQS_STANDARD_REQUEST
        bridge.add("sqs", f"{POLL} ({'fifo' if fifo else 'standard'}, non-empty)",
                   receives, receives, "requests", receives * price)
    for name, u in usage.items():
        if name == SCHEDULED or not u["invocations"]:
            continue
        add_lambda(bridge, name, u["invocations"], u["billed_ms"], u["memory_mb"])
        if name == "webhook":
            add_api_gateway(bridge, u["invocations"], u["invocations"])
    return bridge.scaled(1 / messages), crm.scaled(1 / messages)


def fixed_per_hour(calls, usage, sizer: Sizer, index_writes: dict) -> Bill:
    """The schedule's runs at the template's rate, AWS's idle polling, the secrets' storage."""
    scheduled = usage[SCHEDULED]
    key = scheduled["access_key_id"]
    runs = scheduled["invocations"]
    fixed = Bill()
    add_aws_calls(fixed, [c for c in calls if c.access_key_id == key], sizer)
    add_index_writes(fixed, index_writes)
    fixed = fixed.scaled(SCHEDULE_RUNS_PER_HOUR / runs)
    add_lambda(fixed, SCHEDULED, SCHEDULE_RUNS_PER_HOUR,
               scheduled["billed_ms"] / runs * SCHEDULE_RUNS_PER_HOUR, scheduled["memory_mb"])
    for queue in POLLED_QUEUES:
        fifo = queue.endswith(".fifo")
        price = prices.SQS_FIFO_REQUEST if fifo else prices.SQS_STANDARD_REQUEST
        fixed.add("sqs", f"{POLL} idle polling of {queue}", AWS_IDLE_POLLS_PER_HOUR,
                  AWS_IDLE_POLLS_PER_HOUR, "requests", AWS_IDLE_POLLS_PER_HOUR * price)
    fixed.add("secretsmanager", f"{SECRETS} secrets stored", 0, 0, "",
              SECRETS * prices.SECRETS_MANAGER_SECRET_MONTH / HOURS_PER_MONTH)
    return fixed


def workload(stack: Stack, phones: list[str], run: str, timeout: float):
    """Each customer writes once (the inbound phase), then the CRM replies to each and the
    simulator posts the reply's three statuses (the reply phase)."""
    customers = len(phones)
    inbound = phase(stack, lambda: [stack.customer_writes(p, "Olá, tem em azul?") for p in phones],
                    Counter({"message.received": customers}), timeout)

    def replies():
        for n, phone in enumerate(phones):
            stack.send_command({"command_id": f"cost-{run}-{n}", "type": "send_text",
                                "phone_number_id": stack.phone_number_id, "to": f"+{phone}",
                                "text": {"body": "Temos sim!"}}, group=phone)

    reply = phase(stack, replies,
                  Counter({"command.accepted": customers, "message.status:read": customers}), timeout)
    return inbound, reply


def main() -> int:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
    customers = int(os.environ.get("COST_CUSTOMERS", "60"))
    timeout = float(os.environ.get("COST_TIMEOUT_SECONDS", "600"))
    stack = Stack.from_env(root)
    run = int(time.time())  # command ids of their own: FIFO remembers dedup ids for 5 minutes
    if os.environ.get("COST_WARMUP", "1") != "0":
        # A first round, not billed: on AWS at a steady rate the functions' environments are
        # warm (started, secrets read) long before a million messages have passed; here a cold
        # stack would bill every environment's start to the few messages measured.
        workload(stack, [f"5511901{n:06d}" for n in range(customers)], f"{run}-warm", timeout)
    inbound, reply = workload(stack, [f"5511900{n:06d}" for n in range(customers)], str(run), timeout)
    schedule_calls, schedule_usage, schedule_index_writes = schedule_runs(stack, 2, timeout)

    sizer = Sizer(stack.table_items())
    print(f"make cost: {customers} customers through the local stack, list prices (us-east-1) from "
          "infra/python/cost/prices.py\n")
    totals = {}
    for name, what, (calls, usage, _, elapsed, index_writes) in (
        ("inbound", "a customer's message → message.received", inbound),
        ("reply", "a send_text command → Graph API → statuses sent, delivered, read", reply),
    ):
        bridge, crm = per_message(calls, usage, customers, sizer, index_writes)
        totals[name] = bridge.total() * 1e6
        starts = ", ".join(f"{f} {u['cold_starts']}" for f, u in sorted(usage.items()) if u["cold_starts"])
        print(render(f"{name}: {what} ({customers} in {elapsed:.1f} s; environments started: "
                     f"{starts or 'none'}), per message", bridge, "per million messages"))
        print(render("  the CRM's own calls (reading crm-events.fifo, sending commands), not in the total",
                     crm, "per million messages"))
        bridge_calls = [c for c in calls if c.access_key_id != ADMIN_KEY
                        and c.access_key_id != usage[SCHEDULED]["access_key_id"]]
        print(writes.render("  the items it writes (a transaction's items each, twice the units), per message",
                            writes.breakdown(bridge_calls, sizer, customers)))
        print()
    fixed = fixed_per_hour(schedule_calls, schedule_usage, sizer, schedule_index_writes)
    print(render(f"fixed, per hour: the schedule ({schedule_usage[SCHEDULED]['invocations']} runs measured, "
                 f"{SCHEDULE_RUNS_PER_HOUR} an hour on AWS), AWS's idle polling (5 pollers, 20 s long "
                 "polls, per mapping), secrets stored", fixed, "per month", HOURS_PER_MONTH))
    print(f"\nper million: inbound message ${totals['inbound']:.2f}, reply with its statuses "
          f"${totals['reply']:.2f}; fixed ${fixed.total() * HOURS_PER_MONTH:.2f} a month")
    return 0


if __name__ == "__main__":
    sys.exit(main())
