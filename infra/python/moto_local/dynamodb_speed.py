"""DynamoDB Query without moto 5.2.5's whole-table pass, same answers.

moto answers a Query on the table's own key (no index) by sorting every item of the table and
keeping those of the partition, so each Query costs the table's size: at a few thousand items
(one load run) the processor's `load_message` Query dominated the DynamoDB moto's CPU. Here the
table's items are looked up by partition first; the sort and everything after it stay moto's.
Queries on an index still go through moto's full pass (the indexes are not kept by partition).

DynamoDB requests are serialised by local_moto.py's lock, so the per-table marker is not raced.
"""
from moto.dynamodb.models.table import Table


def install() -> None:
    all_items = Table.all_items
    query = Table.query

    def partition_items(self):
        hash_key = getattr(self, "_local_query_partition", None)
        if hash_key is None:
            return all_items(self)
        partition = self.items.get(hash_key)
        if partition is None:
            return []
        items = list(partition.values()) if self.range_key_attr else [partition]
        return sorted(
            items,
            key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key,
        )

    def query_by_partition(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name")
        if index_name is None and len(args) > 6:
            index_name = args[6]
        if index_name is not None or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        self._local_query_partition = hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            self._local_query_partition = None

    Table.all_items = partition_items
    Table.query = query_by_partition
