"""Parked pane and meta rows (streams.delivery, ``parked_prefix``, ``floor_prefix``) against a
stop at any point.

The window engine writes a pane for every observation it counts, and a meta whenever a group's
list of panes changes; parked, a busy pane or meta leaves once per commit or barrier instead.
Between two commits a kill -9 leaves any prefix of what the worker sent on the changelog, and
the restarted worker reads every input since the last commit again. Whatever the cut, what it
then sends must be what a worker never stopped sends: no final lost or different, no
observation counted twice or missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest

from servicepulse.processors.cases import Observation
from servicepulse.processors.standards import StandardsConfig, load_standards
from servicepulse.processors.timestamps import rfc3339
from servicepulse.processors.window_engine import Origin, WindowEngine
from servicepulse.processors.windows import DEFAULT_WINDOWS
from servicepulse.streams.delivery import HeldWrites
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE
from tests.unit.changelog_cuts import restored as restored_from

T0 = 1_793_606_400.0  # 2026-11-02T08:00:00Z
NOW = 1_900_000_000.0
CHANNEL = "cases:0"
Step = tuple[str, Any, int]  # ("obs", observation, offset) or ("mark", watermark, offset)


class Producer:
    async def flush(self) -> None:
        return None


class App:
    def __init__(self) -> None:
        self.producer = Producer()

    async def crash(self, reason: BaseException) -> None:
        raise AssertionError(f"crashed: {reason!r}")


class PanesChangelog:
    """The panes table as HeldWrites sees it; its changelog is what reached the broker."""

    coalesce_writes = False

    def __init__(self, parked_prefix: str | None, floor_prefix: str | None) -> None:
        self.parked_prefix, self.floor_prefix = parked_prefix, floor_prefix
        self.log: list[tuple[str, Any]] = []

    def changelog_record(self, key: str, value: Any, deleted: bool) -> tuple[Any, Any, Any]:
        return self, key, None if deleted else value

    def on_changelog_delivered(self, metadata: Any) -> None:
        return None


async def send(topic: PanesChangelog, *, key: Any, value: Any, **_: Any) -> Any:
    topic.log.append((key, value))
    delivered = asyncio.get_running_loop().create_future()
    delivered.set_result(None)
    return delivered


class Table(MutableMapping[str, Any]):
    """The worker's table: changes at once in memory, its changelog writes go through held."""

    def __init__(self, held: HeldWrites, changelog: PanesChangelog, rows: dict[str, Any]):
        self.held, self.changelog, self.rows = held, changelog, dict(rows)

    def __getitem__(self, key: str) -> Any:
        return self.rows[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.rows[key] = value
        self.held.write(self.changelog, 0, key, value, deleted=False)

    def __delitem__(self, key: str) -> None:
        del self.rows[key]
        self.held.write(self.changelog, 0, key, None, deleted=True)

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@pytest.fixture(scope="module")
def config() -> StandardsConfig:
    return load_standards(DEFAULT_STANDARDS_FILE)


def steps() -> list[Step]:
    """Two groups, three standards, observations seconds apart and out of order within the
    grace, and a watermark record after every second, lagging the newest observation by ten
    minutes."""
    result: list[Step] = []
    offset, newest = 0, T0
    for n in range(300):
        at = T0 + n * 20 - (n % 4) * 60
        newest = max(newest, at)
        agency = ("ssa", "irs")[n % 2]
        standard = ("csat", "negative_sentiment_share", "trust")[n // 2 % 3]
        obs = Observation(agency, "retirement", "phone", standard, at, float(n % 3 != 0))
        result.append(("obs", obs, offset))
        offset += 1
        if n % 2 == 1:
            result.append(("mark", newest - 600, offset))
            offset += 1
    return result


def run(engine: WindowEngine, store: MutableMapping[str, Any], inputs: list[Step]) -> list[Any]:
    """The windows stage's steps (streams.windows): the finals each watermark step sends."""
    finals = []
    for kind, item, offset in inputs:
        if kind == "obs":
            applied = engine.apply(store, item, offset, Origin(CHANNEL, offset), 0, NOW)
            engine.commit(store, applied)
        else:
            advanced = engine.advance(store, 0, CHANNEL, item, False, NOW)
            finals += advanced.finals
            engine.commit(store, advanced)
    return finals


def open_windows(engine: WindowEngine, store: MutableMapping[str, Any]) -> dict[str, Any]:
    found = {}
    for key in store:
        if key.startswith("p|"):
            _, agency, service, channel, standard, pane = key.split("|")
            start = int(pane.split(":")[1])
            for spec in DEFAULT_WINDOWS:
                group = f"{agency}|{service}|{channel}"
                message = engine.window_message(store, group, standard, spec, start, final=False)
                if message is not None:
                    found[message["window_id"]] = message
    return found


Parking = tuple[str | None, str | None]  # parked_prefix, floor_prefix
PARKINGS: list[Parking] = [("p|", "m|"), ("p|", None), (None, None)]


async def changelog_of(
    config: StandardsConfig, parking: Parking
) -> tuple[list[tuple[str, Any]], list[Any], dict[str, Any]]:
    """What one worker, never stopped, sends over the whole run between two commits."""
    changelog = PanesChangelog(*parking)
    held = HeldWrites(App(), send, park_seconds=3600)  # type: ignore[arg-type]
    engine = WindowEngine(config, grace_s=600, channels=(CHANNEL,))
    table = Table(held, changelog, {})
    finals = run(engine, table, steps())
    for _ in range(5):
        await asyncio.sleep(0)
    await held.released()  # the commit's flush: everything parked leaves
    for _ in range(5):
        await asyncio.sleep(0)
    return changelog.log, finals, open_windows(engine, table.rows)


def rows_under(log: list[tuple[str, Any]], prefix: str) -> int:
    return sum(1 for key, _ in log if key.startswith(prefix))


async def test_parked_panes_and_metas_leave_once_per_barrier_not_once_per_observation(
    config: StandardsConfig,
) -> None:
    both, _, _ = await changelog_of(config, ("p|", "m|"))
    panes_only, _, _ = await changelog_of(config, ("p|", None))
    unparked, _, _ = await changelog_of(config, (None, None))
    # With metas as barriers, panes barely coalesce where a meta is written for nearly every
    # observation (sparse groups: each observation opens a pane). Parked, a meta is no longer
    # a barrier, so the panes written between two metas coalesce too, and the metas with them.
    assert rows_under(panes_only, "p|") <= rows_under(unparked, "p|")
    assert rows_under(both, "p|") < 0.8 * rows_under(panes_only, "p|")
    assert rows_under(both, "m|") < 0.8 * rows_under(unparked, "m|")
    # The last version of every row is the same either way.
    assert dict(both) == dict(panes_only) == dict(unparked)


@pytest.mark.parametrize("parking", PARKINGS)
async def test_a_stop_anywhere_then_a_replay_sends_what_an_unstopped_worker_sends(
    config: StandardsConfig, parking: Parking
) -> None:
    log, finals, still_open = await changelog_of(config, parking)
    assert finals and still_open
    expected = {final["window_id"]: final for final in finals}
    for cut in range(len(log) + 1):
        restored = restored_from({}, log[:cut])
        # Finals a step whose watermark entry reached the changelog had sent before it.
        sent_before = {
            final["window_id"]
            for final in finals
            if (mark := restored.get("w|0", {}).get("wm")) is not None
            and final["window_end"] <= rfc3339(mark)
        }
        engine = WindowEngine(config, grace_s=600, channels=(CHANNEL,))
        again = run(engine, restored, steps())
        for final in again:
            assert final == expected[final["window_id"]], cut
        assert sent_before | {final["window_id"] for final in again} == set(expected), cut
        assert open_windows(engine, restored) == still_open, cut
