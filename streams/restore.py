"""Changelogs are input too: a table restores only the changelog records it can read.

Faust restores a table by reading its changelog topic back. A record servicepulse did not write
there — a key or value that is not JSON, a key that is not a string — used to stop recovery
with no error naming it (Faust's decode error surfaced nowhere) or to break the table later;
a value of the wrong shape for its table (a number where a case belongs) made the agent
reading it fail on every event. Each table has a shape check (processors.state_shapes, given
by streams.topology), run here once per changelog record instead of on every read.
Here such a record is skipped: one ERROR line names the table, topic, partition, offset and
the problem, and ``servicepulse_changelog_records_skipped_total{table}`` counts it. Whatever
the record held is lost to the table, which is what restoring it would have done anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import faust
from faust.serializers import codecs

from servicepulse.processors.state_shapes import TableShape
from servicepulse.streams.delivery import HeldWrites

log = logging.getLogger(__name__)

CODEC = "servicepulse-changelog-json"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """What a changelog key or value that is not JSON decodes to (instead of an error)."""

    head: bytes
    problem: str


class _ChangelogJson(codecs.json):
    """Faust's JSON codec, writing the same bytes; reading never raises."""

    def _loads(self, s: bytes) -> Any:
        try:
            return super()._loads(s)
        except (ValueError, UnicodeDecodeError) as err:
            return Unreadable(bytes(s)[:40], f"not JSON ({err})")


_CHANGELOG_JSON = _ChangelogJson()
codecs.register(CODEC, _CHANGELOG_JSON)


def unrestorable(key: object, value: object, shape: TableShape) -> str | None:
    """Why a changelog record cannot be restored into a str-keyed table whose values have
    ``shape``, or None."""
    if isinstance(key, Unreadable):
        return f"its key is {key.problem}: {key.head!r}"
    if not isinstance(key, str):
        return f"its key is not a JSON string: {key!r:.40}"
    if isinstance(value, Unreadable):
        return f"its value is {value.problem}: {value.head!r}"
    if value is not None and (problem := shape(key, value)) is not None:
        return f"its value does not fit the table: {problem}"
    return None


_on_skip: list[Callable[[str], None]] = []


def count_skips_with(callback: Callable[[str], None]) -> None:
    """``callback(table_name)`` is called for every skipped record (the worker's metric)."""
    _on_skip[:] = [callback]


class RestorableTable(faust.Table[str, Any]):
    """A str-keyed Faust table that skips changelog records it cannot restore, among them
    values that do not have ``shape``, and whose changelog writes wait for the outputs sent
    before them (streams.delivery)."""

    def __init__(
        self, *args: Any, shape: TableShape, held: HeldWrites, coalesce_writes: bool = False,
        parked_prefix: str | None = None, floor_prefix: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.shape = shape
        self.coalesce_writes = coalesce_writes  # read by HeldWrites
        self.parked_prefix = parked_prefix
        self.floor_prefix = floor_prefix
        self.key_serializer = CODEC
        self.value_serializer = CODEC
        self.held = held

    def get(self, key: str, default: Any = None) -> Any:
        """``Mapping.get``, without the KeyError an absent key costs through Faust's
        ``__getitem__`` (its ``__missing__`` raises one, which ``Mapping.get`` catches): the
        dedupe table misses for every new event, the panes for every new pane. The same
        lookups as ``__getitem__`` (the table's get hook, then the store), so a persistent
        store answers them alike."""
        self.on_key_get(key)
        data = self.data
        if key in data:
            return data[key]
        return default

    def on_key_set(self, key: str, value: Any) -> None:
        partition = self.partition_for_key(key)  # the current record's (Faust's own rule)
        assert partition is not None
        self.held.write(self, partition, key, value, deleted=False)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: str) -> None:
        partition = self.partition_for_key(key)
        assert partition is not None
        self.held.write(self, partition, key, None, deleted=True)
        self._sensor_on_del(self, key)

    def changelog_record(
        self, key: str, value: Any, deleted: bool
    ) -> tuple[faust.TopicT, bytes | None, bytes | None]:
        """The changelog topic and the key and value bytes Faust's ``send_changelog`` would
        send for this write (a deletion is a tombstone)."""
        # The codec directly: Faust's prepare_key/prepare_value reach the same call through
        # its schema and serializer registry, at 3x the cost for every changelog write.
        key_bytes = _CHANGELOG_JSON.dumps(key)
        value_bytes = None if deleted else _CHANGELOG_JSON.dumps(value)
        return self.changelog_topic, key_bytes, value_bytes

    def on_changelog_delivered(self, metadata: Any) -> None:
        """What Faust does once a changelog write is acknowledged (at least once): the offset
        a persistent store (RocksDB) has data up to, so a restart reads only the rest."""
        self.data.set_persisted_offset(metadata.topic_partition, metadata.offset)

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        kept = []
        for event in batch:
            problem = unrestorable(event.key, event.value, self.shape)
            if problem is None:
                kept.append(event)
                continue
            message = event.message
            log.error(
                "table %s: changelog record %s[%d]@%d skipped, %s",
                self.name, message.topic, message.partition, message.offset, problem,
            )  # fmt: skip
            for callback in _on_skip:
                callback(self.name)
        super().apply_changelog_batch(kept)
