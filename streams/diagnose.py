"""What a worker that seems stuck is waiting for: ``kill -USR2 <pid>`` writes it to stderr.

Short enough to read in a CI log:

* the consumer's bookkeeping per assigned partition — read and committed offset, the acked
  offsets not committed yet, gaps, messages still unacked — with the flow flags. A partition
  whose lowest acked offset is above its committed offset + 1 waits for a message that was
  read but never acked;
* each channel's queue, the producer buffer and the held changelog writes (streams.delivery);
* each agent's chain of awaits and the event it holds, then every asyncio task's, outermost
  first (mode's SIGUSR1 dump prints only each task's outermost frame, which for an agent says
  nothing).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from types import CoroutineType, FrameType, GeneratorType
from typing import IO, Any

import faust


def _awaited_frames(awaitable: Any) -> Iterator[str]:
    depth = 0
    while awaitable is not None and depth < 40:
        depth += 1
        frame: FrameType | None = (
            getattr(awaitable, "cr_frame", None)
            or getattr(awaitable, "gi_frame", None)
            or getattr(awaitable, "ag_frame", None)
        )
        if frame is not None:
            code, where = frame.f_code, frame.f_code.co_filename.rsplit("site-packages/", 1)[-1]
            yield f"{where}:{frame.f_lineno} {code.co_name}"
        if isinstance(awaitable, CoroutineType):
            awaitable = awaitable.cr_await
        elif isinstance(awaitable, GeneratorType):
            awaitable = awaitable.gi_yieldfrom
        elif hasattr(awaitable, "ag_await"):
            awaitable = awaitable.ag_await
        elif isinstance(awaitable, asyncio.Future):
            yield f"waits on {awaitable!r:.160}"
            return
        else:
            yield f"waits on {type(awaitable).__name__}"
            return


def task_chains() -> list[str]:
    lines = []
    for task in asyncio.all_tasks():
        lines.append(f"task {task.get_name()}")
        lines.extend(f"    {frame}" for frame in _awaited_frames(task.get_coro()))
    return lines


def agent_state(app: faust.App) -> list[str]:
    """Each agent actor's own chain of awaits (its task's chain stops at Faust's wrapper) and
    the event it holds."""
    lines = []
    for agent in app.agents.values():
        for actor in list(getattr(agent, "_actors", ())):
            event = getattr(actor.stream, "current_event", None)
            message = getattr(event, "message", None)
            holding = (
                f" holding {message.topic}[{message.partition}]@{message.offset}"
                if message is not None else ""
            )  # fmt: skip
            lines.append(f"actor {agent.name}#{actor.index}{holding}")
            lines.extend(f"    {frame}" for frame in _awaited_frames(actor.it))
    return lines


def consumer_state(app: faust.App) -> list[str]:
    consumer: Any = app.consumer
    waiting = list(consumer._unacked_messages)
    lines = [
        f"flow_active={consumer.flow_active} suspend_flow={consumer.suspend_flow.is_set()} "
        f"n_acked={consumer._n_acked} unacked={len(waiting)}"
    ]
    unacked: dict[Any, list[tuple[int, str]]] = {}
    for message in waiting:
        unacked.setdefault(message.tp, []).append((message.offset,
            f"{message.offset}(refs={message.refcount},gen={message.generation_id})"))  # fmt: skip
    lines.append(f"generation={getattr(app, 'consumer_generation_id', None)}")
    for tp in sorted(consumer.assignment()):
        acked = consumer._acked.get(tp) or []
        gap = consumer._gap.get(tp)
        unacked_here = [text for _, text in sorted(unacked.get(tp, []))[:10]]
        lines.append(
            f"{tp.topic}[{tp.partition}] read={consumer._read_offset.get(tp)} "
            f"committed={consumer._committed_offset.get(tp)} acked={len(acked)}"
            + (f" lowest_acked={min(acked)}" if acked else "")
            + (f" gaps={sorted((i.begin, i.end) for i in gap)}" if gap else "")
            + (f" unacked={unacked_here}" if unacked_here else "")
        )
    return lines


def channel_state(app: faust.App) -> list[str]:
    lines = []
    conductor: Any = app.topics
    seen: set[int] = set()
    for channels in conductor._tp_index.values():
        for channel in channels:
            if id(channel) in seen:
                continue
            seen.add(id(channel))
            queue = getattr(channel, "_queue", None)
            size = queue.qsize() if queue is not None else "-"
            lines.append(f"channel {channel!r:.80} queued={size}")
    return lines


def producer_state(app: faust.App) -> list[str]:
    producer: Any = app.producer
    lines = [f"producer buffer size={producer.buffer.size}"]
    held = getattr(app, "_servicepulse_held_writes", None)
    if held is not None:
        lines.append(f"held writes: {held.describe()}")
    return lines


def dump(app: faust.App, out: IO[str] = sys.stderr) -> None:
    sections = [("consumer", consumer_state), ("channels", channel_state),
                ("producer", producer_state), ("agents", agent_state)]  # fmt: skip
    lines = ["=== servicepulse state dump ==="]
    for title, section in sections:
        lines.append(f"--- {title}")
        try:
            lines.extend(section(app))
        except Exception as err:  # a dump must not stop at one broken section
            lines.append(f"({title} failed: {err!r})")
    lines.append("--- tasks")
    lines.extend(task_chains())
    lines.append("=== end of state dump ===")
    print("\n".join(lines), file=out, flush=True)
