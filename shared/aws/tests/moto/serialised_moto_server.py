"""moto_server with DynamoDB and SQS calls serialised: the moto server the AWS adapter
tests need (stock moto 5.2.5 is not thread-safe where these tests race).

Why:
- DynamoDB: TransactWriteItems deep-copies each table it touches, applies the actions,
  and on a failed condition puts the copies back. The server is threaded, so a transaction
  that fails while another commits on the same table restores a copy taken before that
  commit: the commit is silently lost (seen: a page completed by one of eight racing
  workers, then not counted). Real DynamoDB never does that.
- SQS: ReceiveMessage checks that a message is visible, then marks it received, with no
  lock between; two concurrent receivers can both get the same message (seen: 31
  deliveries of 30 tasks). Real SQS hides a received message from other receivers.

One lock around every DynamoDB backend method, and one around the SQS backend's message
operations (released while a long poll waits, so a waiting receive never blocks a send),
make each call atomic, as it is on AWS.

Usage: same arguments as moto_server, run with moto's venv python:
    "$TOOLS/bin/python" shared/aws/tests/moto/serialised_moto_server.py -H 127.0.0.1 -p 5005
"""

import functools
import sys
import threading
import types

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main
from moto.sqs.models import Queue, SQSBackend


def _serialise(cls, lock, names=None):
    for name, attribute in list(vars(cls).items()):
        if not isinstance(attribute, types.FunctionType) or name.startswith("__"):
            continue
        if names is not None and name not in names:
            continue

        def wrap(method):
            @functools.wraps(method)
            def call(*args, **kwargs):
                with lock:
                    return method(*args, **kwargs)

            return call

        setattr(cls, name, wrap(attribute))


_serialise(DynamoDBBackend, threading.RLock())

_SQS_LOCK = threading.RLock()
_serialise(
    SQSBackend,
    _SQS_LOCK,
    {
        "receive_message",
        "send_message",
        "send_message_batch",
        "delete_message",
        "delete_message_batch",
        "change_message_visibility",
        "change_message_visibility_batch",
        "purge_queue",
    },
)

_wait_for_messages = Queue.wait_for_messages


def _wait_unlocked(self, timeout):
    # Called by receive_message while it holds the SQS lock: let others in while waiting.
    _SQS_LOCK.release()
    try:
        return _wait_for_messages(self, timeout)
    finally:
        _SQS_LOCK.acquire()


Queue.wait_for_messages = _wait_unlocked

if __name__ == "__main__":
    sys.exit(main())
