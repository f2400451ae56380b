"""Event-time watermarks as in the Dataflow model (Flink, Beam, Kafka Streams' stream time).

A *watermark* W is a promise: no more records with an event time before W are expected. Each
stage task (one input partition of one agent) tracks its input *channels*:

* at a source (ingest), the channel is the input partition itself, and its watermark is the
  latest event time seen on it less the allowed disorder (Flink's bounded out-of-orderness);
* further down, a channel is one upstream task (``"<topic>:<partition>"``), and its watermark
  is the last watermark record that task sent; every upstream task sends them to every
  partition of the next topic, after the data it covers.

The task's output watermark is the **minimum** over its active channels, so a partition read
faster than another never decides lateness for the other's records. Idleness is declared
where it is known, as in Flink (``withIdleness``, then an IDLE status downstream): a source
channel is idle once it has not been heard for ``idle_timeout_s`` of wall-clock time (the
edge keeps it heard while it still has records to read); a downstream channel is idle only
while it says so (every input of that upstream task is idle), never for being slow to speak,
since after a restart or under load its records may simply be queued. Idle channels do not
hold the minimum back. When every channel is idle the watermark moves to the furthest any
channel got (Flink's StatusWatermarkValve does the same), then on with the wall clock, bounded
by ``now - disorder_s``, so a quiet group still gets its windows closed. An idle channel
heard again becomes active and holds the minimum again (from then on: the watermark never goes
back, so its records behind it are late).

Pure arithmetic: the caller passes wall-clock ``now`` in, and keeps ``state()`` in a
changelogged table; ``restore`` gives every channel a fresh idle timeout, since wall-clock
silence before a restart says nothing about after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict


class TrackerState(TypedDict):
    """What a changelog keeps of a tracker: its output and each channel's watermark."""

    output: float | None
    channels: dict[str, float | None]


@dataclass(slots=True)
class _Channel:
    watermark: float | None = None
    heard_at: float = 0.0
    said_idle: bool = False


@dataclass(frozen=True, slots=True)
class Watermark:
    """A task's output: the watermark (None until every active channel has one) and whether
    every input is idle (downstream then leaves this task out of its own minimum)."""

    value: float | None
    idle: bool


@dataclass
class WatermarkTracker:
    channels: tuple[str, ...]
    disorder_s: float
    idle_timeout_s: float | None  # None: channels are idle only when they say so
    now: float
    output: float | None = None
    _channels: dict[str, _Channel] = field(default_factory=dict, repr=False)
    _idle_since: float | None = field(default=None, repr=False)
    _idle_base: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.channels:
            raise ValueError("a watermark tracker needs at least one input channel")
        if self.idle_timeout_s is not None and self.idle_timeout_s <= 0:
            raise ValueError("the idle timeout must be positive seconds")
        # A channel never heard holds the watermark back for one idle timeout from the start.
        for name in self.channels:
            self._channels.setdefault(name, _Channel(heard_at=self.now))

    def _channel(self, name: str) -> _Channel:
        # A channel not declared (more upstream partitions than configured) still counts.
        return self._channels.setdefault(name, _Channel())

    def observe_event(self, channel: str, event_time: float, now: float) -> None:
        """A source record: its channel's watermark is the latest event time less disorder."""
        state = self._channel(channel)
        candidate = event_time - self.disorder_s
        if state.watermark is None or candidate > state.watermark:
            state.watermark = candidate
        state.heard_at, state.said_idle = now, False

    def observe_watermark(self, channel: str, watermark: float | None, idle: bool, now: float
                          ) -> None:  # fmt: skip
        """A watermark record from an upstream task (never lowers what it said before)."""
        state = self._channel(channel)
        if watermark is not None and (state.watermark is None or watermark > state.watermark):
            state.watermark = watermark
        state.heard_at, state.said_idle = now, idle

    def heard(self, channel: str, now: float) -> None:
        """A data record from an upstream task: the channel is alive, whatever its watermark."""
        state = self._channel(channel)
        state.heard_at, state.said_idle = now, False

    def is_idle(self, channel: str, now: float) -> bool:
        state = self._channel(channel)
        if state.said_idle:
            return True
        return self.idle_timeout_s is not None and now - state.heard_at >= self.idle_timeout_s

    def all_idle(self, now: float) -> bool:
        return all(self.is_idle(name, now) for name in self._channels)

    def advance(self, now: float) -> Watermark:
        """The output watermark at wall-clock ``now`` (monotonic: it never goes back)."""
        active = [s.watermark for name, s in self._channels.items() if not self.is_idle(name, now)]
        if active:
            self._idle_since = None
            candidate = None if None in active else min(m for m in active if m is not None)
        else:
            if self._idle_since is None:
                # From the furthest any channel got, as Flink's StatusWatermarkValve does when
                # its last active channel goes idle. Not from where the output stood: inputs
                # that fall quiet together (a burst read to its end on every partition) would
                # otherwise leave the output at the slowest one's mark, crawling on with the
                # wall clock, and a replayed backlog's windows would never close.
                marks = [s.watermark for s in self._channels.values() if s.watermark is not None]
                if self.output is not None:
                    marks.append(self.output)
                self._idle_since = now
                self._idle_base = max(marks, default=None)
            candidate = None
            if self._idle_base is not None:
                # Event time moves on with the wall clock, never past what a record at `now`
                # would allow.
                candidate = min(self._idle_base + now - self._idle_since, now - self.disorder_s)
        if candidate is not None and (self.output is None or candidate > self.output):
            self.output = candidate
        return Watermark(self.output, idle=not active)

    def state(self) -> TrackerState:
        """What a changelog keeps: channel watermarks and the output (JSON-serialisable)."""
        return {
            "output": self.output,
            "channels": {name: s.watermark for name, s in sorted(self._channels.items())},
        }

    @classmethod
    def restore(
        cls, state: TrackerState | None, channels: tuple[str, ...], disorder_s: float,
        idle_timeout_s: float | None, now: float,
    ) -> WatermarkTracker:  # fmt: skip
        tracker = cls(channels, disorder_s, idle_timeout_s, now)
        if state is not None:
            tracker.output = state["output"]
            for name, mark in state["channels"].items():
                tracker._channel(name).watermark = mark
                tracker._channel(name).heard_at = now
        return tracker
