"""quix-streams names a concatenated dataframe's changelog topic after its source topics:
the peer's stream id must keep that name within Kafka's 255 characters."""

from __future__ import annotations

from bench.quix_peer import short_stream_id
from streams.adapters.topics import TopicRegistry


def test_the_changelog_name_of_every_event_topic_fits_kafka() -> None:
    names = TopicRegistry(prefix="bench20261203160115.", partitions=6).event_topics()
    group = "bench20261203160115.quix-peer"

    changelog = f"changelog__{group}--{short_stream_id(names)}--default"

    assert len(names) > 10
    assert len(changelog) <= 255


def test_the_stream_id_is_the_same_for_the_same_topics_in_any_order() -> None:
    assert short_stream_id(["b", "a", "c"]) == short_stream_id(["c", "b", "a"])


def test_other_topics_get_another_stream_id() -> None:
    assert short_stream_id(["a", "b"]) != short_stream_id(["a", "c"])
