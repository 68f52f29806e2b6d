"""moto server as the offline runtime starts it: moto's own server, with one defect fixed.

moto's DynamoDB stream shard numbers a new record from the length of its record list and appends it
without a lock (moto/dynamodb/models/table.py, StreamShard.add). moto_server handles requests on
threads, so two concurrent writes can read the same length: two records get one sequence number, and a
reader that resumes after that number reads one record twice (GetRecords maps sequence numbers back to
list positions). DynamoDB gives every record of a shard a unique, increasing sequence number; this
launcher restores that by serialising the numbering and the append. Product code must never work around
an emulator defect; the fix belongs here. tests/integration/emulator.test.ts shows the defect on plain
moto_server and its absence here.

Usage: python moto_server.py [moto_server arguments]
"""

import sys
import threading

from moto.dynamodb.models.table import StreamShard
from moto.server import main

_append_lock = threading.Lock()
_unlocked_add = StreamShard.add


def _add(self, old, new):
    with _append_lock:
        _unlocked_add(self, old, new)


StreamShard.add = _add

if __name__ == "__main__":
    sys.exit(main())
