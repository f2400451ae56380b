"""streams.restore: changelog records a table cannot restore are recognised, not raised on."""

from __future__ import annotations

import faust
from faust.serializers import codecs

from servicepulse.processors.state_shapes import SeenId, value_of
from servicepulse.streams.restore import CODEC, RestorableTable, Unreadable, unrestorable

SEEN = value_of(SeenId)


def test_the_codec_writes_what_faust_json_writes_and_reads_garbage_without_raising() -> None:
    document = {"a": [1, 2.5, "é"], "b": None}
    assert codecs.dumps(CODEC, document) == codecs.dumps("json", document)
    assert codecs.loads(CODEC, codecs.dumps("json", document)) == document
    garbage = codecs.loads(CODEC, b"\xff{not json")
    assert isinstance(garbage, Unreadable)
    assert garbage.head == b"\xff{not json"


def test_which_records_cannot_be_restored() -> None:
    assert unrestorable("k", {"seen": 1.5, "p": 0}, SEEN) is None
    assert unrestorable("k", None, SEEN) is None  # a tombstone deletes the key
    assert "key is not JSON" in str(unrestorable(Unreadable(b"\xff", "not JSON"), 1, SEEN))
    assert "not a JSON string" in str(unrestorable(123, 1, SEEN))
    assert "not a JSON string" in str(unrestorable(["a"], 1, SEEN))
    assert "value is not JSON" in str(unrestorable("k", Unreadable(b"{", "not JSON"), SEEN))
    assert unrestorable("k", 40, SEEN) == (
        "its value does not fit the table: expected an object (SeenId), got 40"
    )


def test_a_changelog_write_is_the_record_faust_would_send() -> None:
    app = faust.App("restore-test", broker="kafka://127.0.0.1:1", store="memory://")
    table = RestorableTable(
        app, name="seen", default=None, partitions=2, key_type=str, shape=SEEN, held=None
    )
    topic, key, value = table.changelog_record("evt-1", {"seen": 1.5, "p": 0}, False)
    assert topic.get_topic_name() == "restore-test-seen-changelog"
    assert key == codecs.dumps("json", "evt-1")
    assert value == codecs.dumps("json", {"seen": 1.5, "p": 0})
    assert table.changelog_record("evt-1", None, True)[1:] == (key, None)  # a tombstone
    # The bytes Faust's own changelog path makes, for every kind of value a table holds.
    changelog = table.changelog_topic
    for value in [{"agg": {"count": 3, "sum": 4.25}, "off": 7, "org": {"t:1": 9}},
                  {"starts": {"300": [1, 2]}, "origins": {}}, [1, "a", None], "text", 2.5, 0,
                  {"unicode": "Bureau de l'état, ñ", "nested": [{"a": True}]}]:  # fmt: skip
        expected_key = changelog.prepare_key("m|a|b", table.key_serializer)[0]
        expected_value = changelog.prepare_value(value, table.value_serializer)[0]
        assert table.changelog_record("m|a|b", value, False)[1:] == (expected_key, expected_value)


def test_get_reads_a_present_key_and_the_default_for_an_absent_one_without_missing() -> None:
    app = faust.App("restore-get", broker="kafka://127.0.0.1:1", store="memory://")
    table = RestorableTable(
        app, name="seen", default=None, partitions=2, key_type=str, shape=SEEN, held=None
    )
    table.data["evt-1"] = {"seen": 1.5, "p": 0}  # as a restore puts it: no changelog write

    def missing(key: str) -> None:
        raise AssertionError(f"__missing__ called for {key!r}")

    table.__missing__ = missing  # type: ignore[method-assign]
    assert table.get("evt-1") == {"seen": 1.5, "p": 0}
    assert table.get("evt-2") is None
    assert table.get("evt-2", {"seen": 0}) == {"seen": 0}
    assert table["evt-1"] == {"seen": 1.5, "p": 0}  # Faust's own path agrees
    assert "evt-2" not in table
