"""moto's server, with two repairs to its DynamoDB transactions.

moto 5.2.5's TransactWriteItems deep-copies every table it touches for a possible rollback:
its cost grows with the table (120 ms a call at 2,000 items), and while it copies, other request
threads may write to the table ("dictionary changed size during iteration", answered as an HTML
500). Real DynamoDB does neither. So here
- DynamoDB requests are serialised by one lock (everything else, SQS long polls included, stays
  concurrent), and
- a transaction backs up only the items it touches and restores those if it is cancelled,
  which is the same all-or-nothing outcome at a cost independent of the table's size.

AWS's limits that moto ignores are enforced (moto_local/sqs_limits.py, dynamodb_limits.py),
SQS's and DynamoDB Query's costs that grow with a queue's depth or a table's size are removed
(moto_local/sqs_speed.py, dynamodb_speed.py), and tests
inject AWS errors and latency through `/_local/faults` (moto_local/faults.py). The write units
DynamoDB bills on global secondary indexes are counted at `/_local/dynamodb-index-writes`
(moto_local/dynamodb_index_writes.py) for `make cost`. IAM is enforced:
every request must be signed by the local administrator (`test`/`test`) or by a role session the
local runner registered through `/_local/iam/sessions`, and a role may do only what its policies
allow (moto_local/iam.py).

`make run` and the tests start two of these (infra/scripts/moto.sh): one for DynamoDB, one for
SQS and Secrets Manager, so the two busy services use both cores.

Usage: python local_moto.py [-H HOST] [-p PORT]
"""
import argparse
import copy
import signal
import sys
import threading
import types

import moto.dynamodb.models as ddb_models

from moto_local import dynamodb_index_writes, dynamodb_limits, dynamodb_speed, sqs_limits, sqs_speed
from moto_local.faults import PATH as FAULTS_PATH, Faults
from moto_local.iam import PREFIX as IAM_PREFIX, Iam

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def _patch_transactions() -> None:
    real_deepcopy = copy.deepcopy
    table_type = ddb_models.Table

    def deepcopy_except_tables(value, memo=None):
        return value if isinstance(value, table_type) else real_deepcopy(value, memo)

    # The module uses copy.deepcopy for the whole-table backup and for single items; only the
    # former is skipped (the item backups below replace it).
    ddb_models.copy = types.SimpleNamespace(deepcopy=deepcopy_except_tables)
    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        backups = []
        for item in transact_items:
            try:
                op_type, op = next(iter(item.items()))
                name = op["TableName"]
                table = self.get_table(name)
                if op_type == "Put":
                    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = op["Item"][table.range_key_attr]
                else:
                    key = op["Key"]
                current = self.get_item(name, key)
                attrs = real_deepcopy(current.to_json()["Attributes"]) if current else None
                backups.append((name, key, attrs))
            except Exception:  # malformed items are reported by moto's own validation
                continue
        try:
            return original(self, transact_items)
        except Exception:
            for name, key, attrs in reversed(backups):
                try:
                    if attrs is None:
                        self.delete_item(name, key)
                    else:
                        self.put_item(name, attrs)
                except Exception:
                    pass
            raise

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    _patch_transactions()
    sqs_speed.install()
    sqs_limits.install()
    dynamodb_limits.install()
    dynamodb_speed.install()
    dynamodb_index_writes.install()
    app = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def serialised(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return app(environ, start_response)
        with dynamodb:
            # Materialise the body inside the lock: the work happens while it is produced.
            return list(app(environ, start_response))

    # Injected latency waits outside the DynamoDB lock, so a slow table slows only its callers.
    faults = Faults()
    # IAM answers first, as AWS authenticates and authorises before the service does anything.
    iam = Iam()
    enforced = iam.wrap(faults.wrap(serialised))

    def local(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == FAULTS_PATH:
            return faults.admin(environ, start_response)
        if path == dynamodb_index_writes.PATH:
            return dynamodb_index_writes.admin(environ, start_response)
        if path.startswith(IAM_PREFIX + "/"):
            return iam.admin(environ, start_response)
        return enforced(environ, start_response)

    run_simple(args.host, args.port, local, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
