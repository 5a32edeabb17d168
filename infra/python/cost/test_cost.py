"""`python -m unittest discover -s infra/python` (part of `make test`): the cost run's billing
rules on requests whose units AWS documents."""

import base64
import json
import unittest

from cost import prices
from cost.bill import Bill, add_aws_calls, add_index_writes
from cost.dynamo_units import Sizer, units
from cost.recording import Call, parse
from cost.writes import breakdown

KEY = {"pk": {"S": "CONTACT#1#c"}, "sk": {"S": "CONVERSATION"}}


def big(nbytes: int) -> dict:
    return KEY | {"blob": {"S": "x" * nbytes}}


class DynamoUnits(unittest.TestCase):
    def test_a_write_costs_a_unit_per_started_kilobyte_and_a_transaction_twice(self):
        self.assertEqual(units("PutItem", {"Item": big(100)}, Sizer([])), (0, 1))
        self.assertEqual(units("PutItem", {"Item": big(1500)}, Sizer([])), (0, 2))
        two_puts = {"TransactItems": [{"Put": {"Item": big(100)}}, {"Put": {"Item": big(1500)}}]}
        self.assertEqual(units("TransactWriteItems", two_puts, Sizer([])), (0, 6))

    def test_an_update_is_billed_by_the_item_as_the_table_holds_it(self):
        sizer = Sizer([big(3000)])
        update = {"Key": KEY, "ExpressionAttributeValues": {":v": {"N": "1"}}}
        self.assertEqual(units("UpdateItem", update, sizer), (0, 3))
        self.assertEqual(units("UpdateItem", update, Sizer([])), (0, 1))

    def test_reads_are_four_kilobyte_units_halved_when_eventually_consistent(self):
        sizer = Sizer([big(5000)])
        self.assertEqual(units("GetItem", {"Key": KEY, "ConsistentRead": True}, sizer), (2, 0))
        self.assertEqual(units("GetItem", {"Key": KEY}, sizer), (1.0, 0))
        self.assertEqual(units("TransactGetItems", {"TransactItems": [{"Get": {"Key": KEY}}]}, sizer), (4, 0))


class Recording(unittest.TestCase):
    def entry(self, target: str, body: dict, key: str = "ASIAFUNCTION") -> str:
        return json.dumps({
            "method": "POST", "url": "http://127.0.0.1:4566/",
            "headers": {"X-Amz-Target": target, "Authorization":
                        f"AWS4-HMAC-SHA256 Credential={key}/20261130/us-east-1/sqs/aws4_request, "
                        "SignedHeaders=host, Signature=0"},
            "body": base64.b64encode(json.dumps(body).encode()).decode(), "body_encoded": True})

    def test_reads_service_action_and_caller_of_a_signed_call(self):
        call = parse(self.entry("AmazonSQS.SendMessageBatch", {"QueueUrl": "http://h/1/crm-events.fifo"}))
        self.assertEqual((call.service, call.action, call.access_key_id, call.queue),
                         ("sqs", "SendMessageBatch", "ASIAFUNCTION", "crm-events.fifo"))

    def test_an_unsigned_call_is_not_a_billed_call(self):
        self.assertIsNone(parse(json.dumps({"method": "POST", "url": "/", "headers": {}, "body": ""})))

    def test_sqs_bills_each_64_kilobytes_of_a_request_and_fifo_dearer(self):
        bill = Bill()
        small = parse(self.entry("AmazonSQS.SendMessage", {"QueueUrl": "q/inbound", "MessageBody": "a"}))
        large = parse(self.entry("AmazonSQS.SendMessage", {"QueueUrl": "q/x.fifo", "MessageBody": "a" * 70_000}))
        add_aws_calls(bill, [small, large], Sizer([]))
        self.assertAlmostEqual(bill.total(), prices.SQS_STANDARD_REQUEST + 2 * prices.SQS_FIFO_REQUEST)


class Writes(unittest.TestCase):
    def test_a_transaction_is_broken_into_its_items_by_kind_with_their_doubled_units(self):
        outbox = {"pk": {"S": "OUTBOX#status:w:sent"}, "sk": {"S": "OUTBOX"}, "b": {"S": "x" * 1500}}
        message = {"pk": {"S": "MSG#w"}, "sk": {"S": "MESSAGE"}}
        tx = Call("dynamodb", "TransactWriteItems", "K",
                  {"TransactItems": [{"Put": {"Item": outbox}}, {"Put": {"Item": message}}]}, 0)
        mark = Call("dynamodb", "UpdateItem", "K", {"Key": {k: outbox[k] for k in ("pk", "sk")}}, 0)
        rows = breakdown([tx, mark, tx], Sizer([outbox]), messages=2)
        self.assertEqual(rows, [
            ("tx Put", "OUTBOX/OUTBOX", 1.0, rows[0][3], 4.0),
            ("tx Put", "MSG/MESSAGE", 1.0, rows[1][3], 2.0),
            ("UpdateItem", "OUTBOX/OUTBOX", 0.5, rows[2][3], 1.0),
        ])


class IndexWrites(unittest.TestCase):
    def test_an_index_write_is_billed_as_a_table_write_unit(self):
        bill = Bill()
        add_index_writes(bill, {"contact-index": {"writes": 3, "units": 3},
                                "due-index": {"writes": 1, "units": 2}})
        self.assertAlmostEqual(bill.total(), 5 * prices.DYNAMODB_WRITE_UNIT)
        self.assertEqual(bill.lines[("dynamodb", "index writes (due-index)")].units, 2)


if __name__ == "__main__":
    unittest.main()
