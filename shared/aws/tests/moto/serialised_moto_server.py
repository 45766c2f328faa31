"""moto_server with DynamoDB calls serialised: the moto server the AWS adapter tests need.

Why: moto 5.2.5 runs TransactWriteItems by deep-copying each table it touches, applying
the actions, and on a failed condition putting the copies back. The server is threaded,
so a transaction that fails while another one commits on the same table restores a copy
taken before that commit: the commit is silently lost. Real DynamoDB never does that, and
the adapters' race tests (many workers completing or registering the same page) hit it.
One lock around every DynamoDB backend method makes each call atomic, as it is on AWS.
SQS and the other services stay concurrent (long polls must not block other requests).

Usage: same arguments as moto_server, run with the venv's python:
    "$TOOLS/bin/python" shared/aws/tests/moto/serialised_moto_server.py -H 127.0.0.1 -p 5005
"""

import functools
import sys
import threading
import types

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()


def _serialised(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return call


for _name, _attribute in list(vars(DynamoDBBackend).items()):
    if isinstance(_attribute, types.FunctionType) and not _name.startswith("__"):
        setattr(DynamoDBBackend, _name, _serialised(_attribute))

if __name__ == "__main__":
    sys.exit(main())
