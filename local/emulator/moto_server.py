"""moto server as the offline runtime starts it: moto's own server, with three DynamoDB defects fixed.

1. moto's DynamoDB stream shard numbers a new record from the length of its record list and appends it
   without a lock (moto/dynamodb/models/table.py, StreamShard.add). moto_server handles requests on
   threads, so two concurrent writes can read the same length: two records get one sequence number, and
   a reader that resumes after that number reads one record twice (GetRecords maps sequence numbers back
   to list positions). DynamoDB gives every record of a shard a unique, increasing sequence number; the
   numbering and the append are serialised here.
2. An UpdateItem that creates an item first puts the bare key (moto/dynamodb/models/__init__.py,
   update_item), and that put streams an INSERT of the key alone before the real INSERT. DynamoDB streams
   one record per write; the key-only record is suppressed here.
3. Writes are not atomic: update_item reads the item, evaluates the expression and changes it in place
   without a lock, so two concurrent updates of one item can both read the old value (an ADD is lost) or
   stream each other's image. DynamoDB applies each write to an item atomically; every DynamoDB write
   (put, update, delete, transaction; batch writes are puts and deletes) is serialised here.

And one speed fix: moto answers DynamoDB Streams GetRecords through its generic, shape-driven serializer,
which walks every attribute of every image; reading the stream of a large load took about half of moto's
CPU (profiled with py-spy on a 1,000,000-row file), time taken from the writes it serves. The records are
already in DynamoDB's JSON form, so GetRecords is answered with json.dumps of the same result here.
And a Query of the table (not an index) gathers and sorts every item of the table to pick one partition's
(moto/dynamodb/models/table.py, Table.query → all_items): O(table) per query, seconds each once a load
has stored 100,000 events. DynamoDB reads one partition; so does the Query here, through the same code.
tests/integration/emulator.test.ts checks both answers equal plain moto's.

werkzeug's access log (a line per request, read and dropped by the runtime) is off; errors are still
logged.

Product code must never work around an emulator defect; the fixes belong here.
tests/integration/emulator.test.ts shows each defect on plain moto_server and its absence here.

Usage: python moto_server.py [moto_server arguments]
Environment: OFFLINE_MOTO_FIXES=off starts moto unchanged (to show the defects);
OFFLINE_PYTHON_SWITCH_INTERVAL=<seconds> makes request threads interleave more often (to provoke races).
"""

import copy
import logging
import os
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.server import main

_append_lock = threading.Lock()
_unlocked_add = StreamShard.add
_calls = threading.local()


def _add(self, old, new):
    if getattr(_calls, "key_only_put", False):
        return
    with _append_lock:
        _unlocked_add(self, old, new)


_update_item = DynamoDBBackend.update_item
_put_item = Table.put_item


def _update_item_once(self, *args, **kwargs):
    _calls.in_update = True
    try:
        return _update_item(self, *args, **kwargs)
    finally:
        _calls.in_update = False


def _put_item_in_update(self, *args, **kwargs):
    # Thread-local, so a concurrent write by another request still streams its record.
    if not getattr(_calls, "in_update", False):
        return _put_item(self, *args, **kwargs)
    _calls.key_only_put = True
    try:
        return _put_item(self, *args, **kwargs)
    finally:
        _calls.key_only_put = False


_write_lock = threading.RLock()


def _serialised(write):
    def atomic(self, *args, **kwargs):
        with _write_lock:
            # A copy: the response is built after the lock, from what this write left, not a later one.
            return copy.deepcopy(write(self, *args, **kwargs))

    return atomic


def _get_records(self):
    limit = self._get_param("Limit")
    # A str answer is sent as the body, unchanged (moto.core.responses.BaseResponse.call_action).
    return dynamo_json_dump(self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit))


_query = Table.query
_all_items = Table.all_items
_partition = threading.local()


def _query_one_partition(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    _partition.key = hash_key
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _partition.key = None


def _all_items_of_partition(self):
    key = getattr(_partition, "key", None)
    if key is None:
        return _all_items(self)
    with _write_lock:  # a consistent copy: writes change the partition's dict in place
        partition = self.items.get(key)
        if partition is None:
            return []
        items = list(partition.values()) if self.range_key_attr else [partition]
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


if os.environ.get("OFFLINE_MOTO_FIXES", "on") != "off":
    Table.query = _query_one_partition
    Table.all_items = _all_items_of_partition
    DynamoDBStreamsHandler.get_records = _get_records
    StreamShard.add = _add
    DynamoDBBackend.update_item = _update_item_once
    Table.put_item = _put_item_in_update
    for _name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
if os.environ.get("OFFLINE_PYTHON_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["OFFLINE_PYTHON_SWITCH_INTERVAL"]))

if __name__ == "__main__":
    sys.exit(main())
