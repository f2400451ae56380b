"""Faults a worker must not run on through: its topics gone, or a stop that does not end.

* Topics: every ``SERVICEPULSE_TOPIC_CHECK_SECONDS`` the worker lists the cluster's topics. If
  any topic it reads or writes (inputs, outputs, internal topics, table changelogs) is gone —
  a broker restarted on empty storage, a topic deleted by hand — it logs one CRITICAL line
  naming them and exits with code 4. Running on would lose outputs and state silently; a
  supervisor's restart creates the topics again (streams.topics.ensure_topics, which logs
  what it created) and the worker resumes from whatever the broker still holds.
* Stop: after SIGTERM or SIGINT the worker has ``SERVICEPULSE_SHUTDOWN_TIMEOUT_SECONDS`` to stop
  cleanly (Faust commits offsets and flushes the producer); past that it logs one line and
  exits with code 1. Delivery is at-least-once, so an exit at any point loses nothing: what was
  not committed is read again on restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import Any, cast

import faust
from aiokafka.admin import AIOKafkaAdminClient

from servicepulse.streams import diagnose
from servicepulse.streams.settings import Settings
from servicepulse.streams.topology import TOPICS

log = logging.getLogger(__name__)

EXIT_TOPICS_GONE = 4
EXIT_STOP_TIMEOUT = 1


def _exit_now(code: int, line: str) -> None:
    # os._exit: no handler of a stuck event loop can delay it.
    print(f"servicepulse: {line}", file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(code)


def expected_topics(app: faust.App, settings: Settings) -> set[str]:
    """Every topic the worker needs to exist: servicepulse's own and the tables' changelogs."""
    changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    return {spec.name(settings) for spec in TOPICS} | changelogs


def missing_topics(expected: set[str], existing: set[str]) -> list[str]:
    return sorted(expected - existing)


def register_topic_watch(app: faust.App, settings: Settings) -> None:
    @app.timer(settings.topic_check_seconds)  # type: ignore[untyped-decorator]
    async def check_topics_exist() -> None:
        if app.should_stop:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
        except Exception as err:  # an unreachable broker is Faust's to retry; checked again
            log.warning("topic check skipped: cannot list topics (%s)", err)
            return
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        gone = missing_topics(expected_topics(app, settings), existing)
        if gone:
            line = (
                f"{len(gone)} topic(s) this worker uses are gone from the broker: "
                f"{', '.join(gone)}; exiting (code {EXIT_TOPICS_GONE}) rather than run on "
                "without them; a restart recreates them"
            )
            log.critical(line)
            _exit_now(EXIT_TOPICS_GONE, line)


class BoundedStopWorker(faust.Worker):
    """Faust's worker, whose stop after SIGTERM/SIGINT is bounded by ``stop_timeout_s``."""

    def __init__(self, app: faust.App, *, stop_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.stop_timeout_s = stop_timeout_s
        # Faust's startup spinner sets the root logger to DEBUG whenever the log level is
        # WARNING or above, so every debug call in aiokafka and Faust (one per record sent)
        # built a log record that no handler printed. A service has no terminal to spin.
        self.spinner = None

    def _schedule_shutdown(self, signal: object) -> None:
        if not self._signal_stop_time:
            line = (
                f"still stopping {self.stop_timeout_s:g} s after {signal}; exiting now "
                f"(code {EXIT_STOP_TIMEOUT}); uncommitted records are read again on restart"
            )
            timer = threading.Timer(self.stop_timeout_s, _exit_now, (EXIT_STOP_TIMEOUT, line))
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(signal)  # type: ignore[arg-type]

    def _on_sigusr2(self) -> None:
        # mode's worker opens pdb here, which a service without a terminal cannot use: write
        # what the worker waits for instead (streams.diagnose).
        diagnose.dump(cast(faust.App, self.app), self.stderr)
