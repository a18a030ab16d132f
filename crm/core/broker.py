"""The demo's and the test suite's broker: kombu's filesystem transport, with messages
written atomically.

kombu's filesystem channel (5.7.0) creates a message's file under its final name and only
then writes it; a consumer polling the folder renames and reads it without taking the
writer's lock, so it can read an empty file (kombu issue #1551). Its exchange tables (which
queue a message goes to) are rewritten in place the same way, so a publisher can route by
an empty table while a worker binds its queue, and two binders can overwrite each other.
Seen here: a worker that started while tasks were being sent died on `JSONDecodeError:
Expecting value: line 1 column 1 (char 0)`, and a push batch waited for the sweeper
(tests/trust/test_filesystem_broker.py races a producer and a consumer).

This channel writes each message and each table under a name nobody reads and renames it
into place (atomic within one folder); table changes are serialised by a lock file.

crm/celery.py points kombu's `filesystem` alias here, so CELERY_BROKER_URL keeps its
`filesystem://` form.
"""

import os
import uuid
from contextlib import contextmanager
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.transport.filesystem import LOCK_EX, exchange_queue_t, lock, unlock
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written under a hidden name, then renamed to the
        `<time>_<uuid>.<queue>.msg` name consumers look for."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # Consumers take the part after the first dot as the queue: ".part" hides it.
        partial = os.path.join(self.data_folder_out, f".part-{name}")
        try:
            with open(partial, "wb") as file:
                file.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as error:
            raise ChannelError(f"Cannot add file {final!r} to directory") from error

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            table = loads(file.read_text())
        except FileNotFoundError:
            return []
        except OSError as error:
            raise ChannelError(f"Cannot open {file}") from error
        return [exchange_queue_t(*row) for row in table]

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange):
            table = self.get_table(exchange)
            if binding not in table:
                self._write_table(exchange, [binding, *table])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        binding = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange):
            table = self.get_table(exchange)
            if binding in table:
                self._write_table(exchange, [row for row in table if row != binding])

    @contextmanager
    def _table_lock(self, exchange):
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        with open(file.with_name(f".{file.name}.lock"), "ab") as lock_file:
            lock(lock_file, LOCK_EX)
            try:
                yield
            finally:
                unlock(lock_file)

    def _write_table(self, exchange, table) -> None:
        file = self._exchange_file(exchange)
        partial = file.with_name(f".{file.name}.{uuid.uuid4()}.part")
        try:
            partial.write_text(dumps(table))
            os.replace(partial, file)
        except OSError as error:
            raise ChannelError(f"Cannot write {file}") from error


class Transport(filesystem.Transport):
    Channel = Channel
