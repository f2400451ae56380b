"""Watermark records are taken only from tasks reading an upstream topic (streams.watermarks)."""

from __future__ import annotations

import pytest

from servicepulse.processors.envelope import UnreadableRecord
from servicepulse.streams.watermarks import channels_of, check_channel

UPSTREAM = channels_of(["app-interactions-by-case-id", "app-feedback-by-event-id"], 4)


@pytest.mark.parametrize("channel", ["app-interactions-by-case-id:0", "app-feedback-by-event-id:3",
                                     "app-feedback-by-event-id:7"])  # fmt: skip
def test_any_partition_of_an_upstream_topic_is_a_channel(channel: str) -> None:
    check_channel(channel, UPSTREAM)  # 7: an input topic may have more partitions than set


FOREIGN = ["fuzz:0", "app-feedback-by-event-id", ":1", "app-feedback-by-event-id:x",
           "app-events-by-customer:0"]  # fmt: skip


@pytest.mark.parametrize("channel", FOREIGN)
def test_a_record_from_anywhere_else_is_unreadable(channel: str) -> None:
    with pytest.raises(UnreadableRecord):
        check_channel(channel, UPSTREAM)
