"""Changelog writes held until the outputs queued before them are delivered (streams.delivery).

The broker side is simulated by delivery futures the test resolves itself, in the order a
real producer may: partitions are sent independently, so a later output can be acknowledged
first. The Kafka path itself is covered by the kill -9 integration tests.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import faust
import pytest

from servicepulse.streams.delivery import HeldWrites, held_writes, send_now, sender


class Producer:
    def __init__(self) -> None:
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1


class App:
    def __init__(self) -> None:
        self.producer = Producer()
        self.crashed: list[BaseException] = []

    async def crash(self, reason: BaseException) -> None:
        self.crashed.append(reason)


class Topic:
    """``send`` returns the delivery future, as the worker's sender does; the test resolves
    it."""

    def __init__(self) -> None:
        self.deliveries: list[asyncio.Future[Any]] = []

    async def send(
        self, *, key: bytes | None, value: bytes, partition: int | None, callback: Any
    ) -> Any:
        delivery = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery


class Table:
    """A table whose changelog writes the worker's sender delivers at once (acknowledged)."""

    def __init__(
        self, fail_with: BaseException | None = None, *, coalesce_writes: bool = True,
        parked_prefix: str | None = None, floor_prefix: str | None = None,
    ) -> None:  # fmt: skip
        self.coalesce_writes = coalesce_writes
        self.parked_prefix, self.floor_prefix = parked_prefix, floor_prefix
        self.changelog: list[tuple[int, Any, Any]] = []
        self.persisted: list[Any] = []
        self.fail_with = fail_with

    def changelog_record(self, key: Any, value: Any, deleted: bool) -> tuple[Any, Any, Any]:
        return self, key, None if deleted else value

    def on_changelog_delivered(self, metadata: Any) -> None:
        self.persisted.append(metadata)

    def send_changelog(self, partition: int, key: Any, value: Any, **_: Any) -> None:
        """Faust's path (exactly once)."""
        self.changelog.append((partition, key, value))


async def send(
    topic: Topic | Table, *, key: Any, value: Any, partition: int | None = None,
    callback: Any = None,
) -> Any:  # fmt: skip
    """The worker's sender: outputs wait for the test; changelog writes are acknowledged."""
    if isinstance(topic, Topic):
        return await topic.send(key=key, value=value, partition=partition, callback=callback)
    if topic.fail_with is not None:
        raise topic.fail_with
    assert partition is not None
    topic.changelog.append((partition, key, value))
    delivery = asyncio.get_running_loop().create_future()
    delivery.set_result(("changelog", partition, len(topic.changelog) - 1))
    return delivery


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def output_then_write(key: str, value: Any) -> tuple[App, Topic, Table, HeldWrites]:
    """A queue holding one output in flight and, behind it, one changelog write."""
    app, topic, table = App(), Topic(), Table()
    held = HeldWrites(app, send)  # type: ignore[arg-type]
    await held.send(topic, key=b"x", value=b"x")  # type: ignore[arg-type]
    held.write(table, 0, key, value, deleted=False)
    return app, topic, table, held


async def test_a_write_waits_for_every_output_queued_before_it() -> None:
    app, topic, table = App(), Topic(), Table()
    held = HeldWrites(app, send)  # type: ignore[arg-type]
    await held.send(topic, key=b"a", value=b"1")  # type: ignore[arg-type]
    await held.send(topic, key=b"b", value=b"2")  # type: ignore[arg-type]
    held.write(table, 0, "case-1", {"n": 1}, deleted=False)
    first, second = topic.deliveries
    second.set_result("acked")  # another partition acknowledged first
    await settle()
    assert table.changelog == []
    first.set_result("acked")
    await settle()
    assert table.changelog == [(0, "case-1", {"n": 1})]


async def test_writes_keep_their_order_and_later_outputs_do_not_hold_earlier_writes() -> None:
    app, topic, table = App(), Topic(), Table()
    held = HeldWrites(app, send)  # type: ignore[arg-type]
    held.write(table, 1, "k", {"v": 1}, deleted=False)  # nothing before it: leaves at once
    await held.send(topic, key=b"x", value=b"x")  # type: ignore[arg-type]
    held.write(table, 1, "j", {"v": 2}, deleted=False)
    held.write(table, 1, "k", None, deleted=True)
    await settle()
    assert table.changelog == [(1, "k", {"v": 1})]
    topic.deliveries[0].set_result("acked")
    await settle()
    assert table.changelog == [(1, "k", {"v": 1}), (1, "j", {"v": 2}), (1, "k", None)]


async def test_a_held_write_replaced_by_a_later_one_of_its_key_never_leaves() -> None:
    """The key's last value leaves, in the later write's place: after the outputs queued
    before the later write, not just those before the dropped one."""
    app, topic, table = App(), Topic(), Table()
    held = HeldWrites(app, send)  # type: ignore[arg-type]
    await held.send(topic, key=b"x", value=b"x")  # type: ignore[arg-type]
    held.write(table, 0, "group-a", {"n": 1}, deleted=False)
    held.write(table, 0, "group-b", {"n": 1}, deleted=False)
    await held.send(topic, key=b"y", value=b"y")  # type: ignore[arg-type]
    held.write(table, 0, "group-a", {"n": 2}, deleted=False)
    held.write(table, 1, "group-a", {"n": 9}, deleted=False)  # another partition's key
    first, second = topic.deliveries
    first.set_result("acked")
    await settle()
    assert table.changelog == [(0, "group-b", {"n": 1})]
    second.set_result("acked")
    await settle()
    assert table.changelog == [
        (0, "group-b", {"n": 1}), (0, "group-a", {"n": 2}), (1, "group-a", {"n": 9})
    ]  # fmt: skip
    assert held.coalesced == 1
    held.write(table, 0, "group-a", {"n": 3}, deleted=False)  # nothing held: leaves
    await settle()
    assert table.changelog[-1] == (0, "group-a", {"n": 3})


async def test_rows_that_do_not_stand_alone_leave_every_write_in_order() -> None:
    """A watermark entry, then the panes its step expired, then the next step's entry: without
    the first entry, a stop after the deletions would restore the old watermark without the
    panes its finals are sent again from."""
    app, topic, table = App(), Topic(), Table(coalesce_writes=False)
    held = HeldWrites(app, send)  # type: ignore[arg-type]
    await held.send(topic, key=b"final", value=b"1")  # type: ignore[arg-type]
    held.write(table, 0, "w|0", {"wm": 100}, deleted=False)
    held.write(table, 0, "p|old-pane", None, deleted=True)
    await held.send(topic, key=b"final", value=b"2")  # type: ignore[arg-type]
    held.write(table, 0, "w|0", {"wm": 200}, deleted=False)
    for delivery in topic.deliveries:
        delivery.set_result("acked")
    await settle()
    assert table.changelog == [
        (0, "w|0", {"wm": 100}), (0, "p|old-pane", None), (0, "w|0", {"wm": 200})
    ]  # fmt: skip
    assert held.coalesced == 0


async def test_the_commit_flush_waits_for_held_writes_then_flushes_them() -> None:
    app, topic, table, _ = await output_then_write("k", 1)
    flushing = asyncio.ensure_future(app.producer.flush())
    await settle()
    assert not flushing.done() and app.producer.flushes == 1
    topic.deliveries[0].set_result("acked")
    await asyncio.wait_for(flushing, 1)
    assert table.changelog == [(0, "k", 1)]
    assert app.producer.flushes == 2  # the released write is flushed before offsets commit


async def test_the_flush_waits_only_for_what_was_held_before_it() -> None:
    """...and a write it waits for is not replaced by one queued after it, which it does not
    wait for: the earlier write leaves itself."""
    app, topic, table, held = await output_then_write("k", 1)
    flushing = asyncio.ensure_future(app.producer.flush())
    await settle()
    await held.send(topic, key=b"y", value=b"y")  # type: ignore[arg-type]
    held.write(table, 0, "k", 2, deleted=False)
    topic.deliveries[0].set_result("acked")
    await asyncio.wait_for(flushing, 1)  # not held up by the output queued after it
    assert table.changelog == [(0, "k", 1)]
    assert held.coalesced == 0
    topic.deliveries[1].set_result("acked")
    await settle()
    assert table.changelog == [(0, "k", 1), (0, "k", 2)]


async def test_a_failed_output_holds_its_write_back_and_stops_the_worker() -> None:
    app, topic, table, _ = await output_then_write("k", 1)
    failure = RuntimeError("broker said no")
    topic.deliveries[0].set_exception(failure)
    await settle()
    assert table.changelog == []
    assert app.crashed == [failure]
    with pytest.raises(RuntimeError):
        topic.deliveries[0].result()


async def test_each_acknowledged_changelog_write_is_reported_to_its_table() -> None:
    _, topic, table, _ = await output_then_write("k", 1)
    topic.deliveries[0].set_result("acked")
    await settle()
    assert table.persisted == [("changelog", 0, 0)]  # the offset a RocksDB store keeps


async def test_a_changelog_write_the_producer_refuses_stops_the_worker() -> None:
    app, table = App(), Table(fail_with=RuntimeError("record too large"))
    held = HeldWrites(app, send)  # type: ignore[arg-type]
    held.write(table, 0, "k", 1, deleted=False)
    await settle()
    assert [str(reason) for reason in app.crashed] == ["record too large"]
    await asyncio.wait_for(app.producer.flush(), 1)  # a stopping worker's flush does not hang


async def test_with_exactly_once_writes_go_through_faust_s_send_changelog() -> None:
    app, topic, table = App(), Topic(), Table()
    held = HeldWrites(app, send, changelog_via_faust=True)  # type: ignore[arg-type]
    await held.send(topic, key=b"x", value=b"x")  # type: ignore[arg-type]
    held.write(table, 2, "k", None, deleted=True)
    assert table.changelog == []
    topic.deliveries[0].set_result("acked")
    await settle()
    assert table.changelog == [(2, "k", None)]
    assert table.persisted == []  # Faust's own callback keeps it on that path


def test_the_worker_chooses_how_to_send_once_per_app() -> None:
    at_least_once = faust.App("sender-test-1", broker="kafka://127.0.0.1:1")
    exactly_once = faust.App(
        "sender-test-2", broker="kafka://127.0.0.1:1", processing_guarantee="exactly_once"
    )
    chosen = sender(at_least_once)
    assert sender(at_least_once) is chosen
    assert isinstance(chosen, functools.partial) and chosen.func is send_now
    other = sender(exactly_once)
    assert isinstance(other, functools.partial) and other.func is not send_now


def parking() -> tuple[App, Topic, Table, HeldWrites]:
    app, topic, table = App(), Topic(), Table()
    held = HeldWrites(app, send, park_seconds=60)  # type: ignore[arg-type]
    return app, topic, table, held


async def test_a_released_row_waits_for_the_commit_and_only_its_newest_write_leaves() -> None:
    app, _, table, held = parking()
    held.write(table, 0, "case-1", {"n": 1}, deleted=False)
    held.write(table, 0, "case-2", {"n": 1}, deleted=False)
    held.write(table, 0, "case-1", {"n": 2}, deleted=False)
    held.write(table, 1, "case-1", {"n": 7}, deleted=False)  # another partition's row
    await settle()
    assert table.changelog == []
    await asyncio.wait_for(app.producer.flush(), 1)
    assert sorted(table.changelog, key=str) == sorted(
        [(0, "case-2", {"n": 1}), (0, "case-1", {"n": 2}), (1, "case-1", {"n": 7})], key=str
    )
    assert held.coalesced == 1
    held.write(table, 0, "case-1", None, deleted=True)  # parked again, for the next commit
    await settle()
    assert len(table.changelog) == 3
    await asyncio.wait_for(app.producer.flush(), 1)
    assert table.changelog[-1] == (0, "case-1", None)


async def test_a_parked_row_still_waits_for_the_outputs_before_it() -> None:
    app, topic, table, held = parking()
    await held.send(topic, key=b"alert", value=b"1")  # type: ignore[arg-type]
    held.write(table, 0, "alert-state", {"firing": True}, deleted=False)
    flushing = asyncio.ensure_future(app.producer.flush())
    await settle()
    assert not flushing.done() and table.changelog == []
    topic.deliveries[0].set_result("acked")
    await asyncio.wait_for(flushing, 1)
    assert table.changelog == [(0, "alert-state", {"firing": True})]


async def test_a_write_released_while_a_flush_waits_is_not_parked() -> None:
    """The flush waits for it: parked, it would not be sent, and the commit would run ahead
    of the state it made."""
    app, topic, table, held = parking()
    await held.send(topic, key=b"x", value=b"x")  # type: ignore[arg-type]
    held.write(table, 0, "k", 1, deleted=False)
    flushing = asyncio.ensure_future(app.producer.flush())
    await settle()
    topic.deliveries[0].set_result("acked")  # releases the write while the flush waits
    await asyncio.wait_for(flushing, 1)
    assert table.changelog == [(0, "k", 1)]


async def test_a_write_queued_after_a_waiting_flush_began_is_parked() -> None:
    """The flush does not wait for it: parked, it leaves with the next commit."""
    app, topic, table, held = parking()
    await held.send(topic, key=b"x", value=b"x")  # type: ignore[arg-type]
    held.write(table, 0, "before", 1, deleted=False)
    flushing = asyncio.ensure_future(app.producer.flush())
    await settle()
    held.write(table, 0, "after", 2, deleted=False)
    topic.deliveries[0].set_result("acked")
    await asyncio.wait_for(flushing, 1)
    assert table.changelog == [(0, "before", 1)]
    await asyncio.wait_for(app.producer.flush(), 1)
    assert table.changelog == [(0, "before", 1), (0, "after", 2)]


async def test_an_idle_worker_s_parked_rows_leave_after_park_seconds() -> None:
    app, table = App(), Table()
    held = HeldWrites(app, send, park_seconds=0.05)  # type: ignore[arg-type]
    held.write(table, 0, "k", 1, deleted=False)
    await settle()
    assert table.changelog == []
    await asyncio.sleep(0.2)
    assert table.changelog == [(0, "k", 1)]


async def test_rows_that_do_not_stand_alone_are_never_parked() -> None:
    app, table = App(), Table(coalesce_writes=False)
    held = HeldWrites(app, send, park_seconds=60)  # type: ignore[arg-type]
    held.write(table, 0, "w|0", {"wm": 100}, deleted=False)
    await settle()
    assert table.changelog == [(0, "w|0", {"wm": 100})]


def test_the_worker_parks_for_a_commit_interval_only_at_least_once() -> None:
    at_least_once = faust.App("park-test-1", broker="kafka://127.0.0.1:1")
    exactly_once = faust.App(
        "park-test-2", broker="kafka://127.0.0.1:1", processing_guarantee="exactly_once"
    )
    assert held_writes(at_least_once)._park_seconds == at_least_once.conf.broker_commit_interval
    assert held_writes(exactly_once)._park_seconds is None


async def test_rows_under_the_parked_prefix_leave_before_any_other_write_of_their_partition(
) -> None:  # fmt: skip
    app, table = App(), Table(coalesce_writes=False, parked_prefix="p|")
    held = HeldWrites(app, send, park_seconds=60)  # type: ignore[arg-type]
    held.write(table, 0, "p|a", 1, deleted=False)
    held.write(table, 0, "p|b", 1, deleted=False)
    held.write(table, 0, "p|a", 2, deleted=False)  # replaces the first, in its place
    held.write(table, 1, "p|a", 9, deleted=False)  # another partition: no barrier passed it
    await settle()
    assert table.changelog == []
    held.write(table, 0, "w|0", {"wm": 300}, deleted=False)  # the barrier
    await settle()
    assert table.changelog == [(0, "p|a", 2), (0, "p|b", 1), (0, "w|0", {"wm": 300})]
    held.write(table, 0, "p|b", 2, deleted=False)
    held.write(table, 0, "p|b", None, deleted=True)  # a deletion is a barrier, never parked
    await settle()
    assert table.changelog[3:] == [(0, "p|b", 2), (0, "p|b", None)]
    await asyncio.wait_for(app.producer.flush(), 1)
    assert table.changelog[5:] == [(1, "p|a", 9)]
    assert held.coalesced == 1


async def test_a_write_waits_for_an_output_followed_from_elsewhere() -> None:
    """A record gathered with others (streams.batching) is followed by its delivery future."""
    app, table = App(), Table()
    held = HeldWrites(app, send)  # type: ignore[arg-type]
    delivery = asyncio.get_running_loop().create_future()
    held.follow(delivery)
    held.write(table, 0, "seen", 1, deleted=False)
    await settle()
    assert table.changelog == []
    delivery.set_result("acked")
    await settle()
    assert table.changelog == [(0, "seen", 1)]


async def test_a_floor_row_leaves_after_every_parked_row_written_before_its_newest_version(
) -> None:  # fmt: skip
    app, table = App(), Table(coalesce_writes=False, parked_prefix="p|", floor_prefix="m|")
    held = HeldWrites(app, send, park_seconds=60)  # type: ignore[arg-type]
    held.write(table, 0, "p|a", 1, deleted=False)
    held.write(table, 0, "m|g", {"off": 1}, deleted=False)  # vouches for p|a at 1
    held.write(table, 0, "p|a", 2, deleted=False)  # keeps the first place: before m|g
    held.write(table, 0, "p|b", 1, deleted=False)
    held.write(table, 0, "m|g", {"off": 3}, deleted=False)  # vouches for p|b: moves after it
    held.write(table, 0, "p|c", 1, deleted=False)  # after the newest m|g
    await settle()
    assert table.changelog == []  # a floor row is no barrier
    held.write(table, 0, "p|a", None, deleted=True)  # a deletion is
    await settle()
    assert table.changelog == [
        (0, "p|a", 2), (0, "p|b", 1), (0, "m|g", {"off": 3}), (0, "p|c", 1), (0, "p|a", None),
    ]  # fmt: skip
    assert held.coalesced == 2
