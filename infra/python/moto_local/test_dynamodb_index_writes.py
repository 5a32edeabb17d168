"""The index writes `make cost` bills, on moto in-process (`python -m unittest` in `make test`)."""
import unittest

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from moto_local import dynamodb_index_writes

dynamodb_index_writes.install()


@mock_aws
class IndexWrites(unittest.TestCase):
    def setUp(self):
        dynamodb_index_writes.reset()
        self.ddb = boto3.client("dynamodb", region_name="us-east-1")
        self.ddb.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in
                                  (("pk", "S"), ("sk", "S"), ("contact_id", "S"),
                                   ("due_bucket", "S"), ("due_at", "N"))],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "contact-index",
                 "KeySchema": [{"AttributeName": "contact_id", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "KEYS_ONLY"}},
                {"IndexName": "due-index",
                 "KeySchema": [{"AttributeName": "due_bucket", "KeyType": "HASH"},
                               {"AttributeName": "due_at", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "ALL"}},
            ],
        )

    def key(self, sk="A"):
        return {"pk": {"S": "P"}, "sk": {"S": sk}}

    def update(self, expression, values=None, **extra):
        self.ddb.update_item(TableName="t", Key=self.key(), UpdateExpression=expression,
                             **({"ExpressionAttributeValues": values} if values else {}), **extra)

    def counted(self):
        return {name: (t["writes"], t["units"])
                for name, t in dynamodb_index_writes.totals().items()}

    def test_a_keys_only_index_is_written_when_its_key_comes_changes_or_goes(self):
        self.ddb.put_item(TableName="t", Item=self.key() | {"contact_id": {"S": "ct_1"}})
        self.assertEqual(self.counted(), {"contact-index": (1, 1)})
        self.update("SET body = :b", {":b": {"S": "x" * 3000}})
        self.assertEqual(self.counted(), {"contact-index": (1, 1)}, "no projected attribute changed")
        self.update("SET contact_id = :c", {":c": {"S": "ct_2"}})
        self.assertEqual(self.counted(), {"contact-index": (3, 3)}, "old entry deleted, new put")
        self.update("REMOVE contact_id")
        self.assertEqual(self.counted(), {"contact-index": (4, 4)})
        self.ddb.delete_item(TableName="t", Key=self.key())
        self.assertEqual(self.counted(), {"contact-index": (4, 4)}, "not in the index any more")

    def test_an_all_projection_is_rewritten_on_any_change_by_the_entrys_size(self):
        self.ddb.put_item(TableName="t", Item=self.key() | {
            "due_bucket": {"S": "3"}, "due_at": {"N": "100"}, "body": {"S": "x" * 1500}})
        self.assertEqual(self.counted(), {"due-index": (1, 2)})
        self.update("SET v = :v", {":v": {"N": "1"}})
        self.assertEqual(self.counted(), {"due-index": (2, 4)})
        self.update("SET v = :v", {":v": {"N": "1"}})
        self.assertEqual(self.counted(), {"due-index": (2, 4)}, "nothing changed, nothing written")

    def test_a_refused_write_or_a_cancelled_transaction_counts_nothing(self):
        with self.assertRaises(ClientError):
            self.ddb.put_item(TableName="t", Item=self.key() | {"contact_id": {"S": "ct_1"}},
                              ConditionExpression="attribute_exists(pk)")
        with self.assertRaises(ClientError):
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": self.key("B") | {"contact_id": {"S": "ct_1"}}}},
                {"Put": {"TableName": "t", "Item": self.key("C"),
                         "ConditionExpression": "attribute_exists(pk)"}},
            ])
        self.assertEqual(self.counted(), {})
        self.ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": self.key("B") | {"contact_id": {"S": "ct_1"}}}},
            {"Put": {"TableName": "t", "Item": self.key("C") | {"contact_id": {"S": "ct_1"}}}},
        ])
        self.assertEqual(self.counted(), {"contact-index": (2, 2)})

    def test_batch_writes_are_counted_per_item(self):
        self.ddb.batch_write_item(RequestItems={"t": [
            {"PutRequest": {"Item": self.key(s) | {"contact_id": {"S": "ct_1"}}}} for s in "ABC"]})
        self.assertEqual(self.counted(), {"contact-index": (3, 3)})


if __name__ == "__main__":
    unittest.main()
