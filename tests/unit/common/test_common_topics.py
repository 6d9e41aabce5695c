"""The topic catalogue agrees with the schemas; what counts as a topic the broker serves."""

from __future__ import annotations

from confluent_kafka import KafkaError
from confluent_kafka.admin import PartitionMetadata, TopicMetadata  # type: ignore[attr-defined]  # not in its __all__

from services.common.codec import AvroCodec
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.topics import KafkaTopic, catalogue_topics, load_catalogue, topic_spec, unserved_topics

DESIGN_TOPICS = {
    "interactions.raw",
    "interactions.valid",
    "features",
    "predictions",
    "labels",
    "model.events",
    "commands",
    "logs",
    "incidents",
    "actions",
    "audit",  # the healer's audit trail, of which the PostgreSQL tables are the projection
    "deadletter",
}


def test_every_design_topic_is_in_the_catalogue_with_a_known_schema_and_key_field() -> None:
    codec = AvroCodec.from_dir(REPO_ROOT / "schemas")
    catalogue = load_catalogue(REPO_ROOT / "schemas")
    assert set(catalogue) == DESIGN_TOPICS
    for spec in catalogue.values():
        fields = {f["name"] for f in codec.current(spec.schema).raw["fields"]}
        assert spec.key in fields, f"{spec.name}: key {spec.key} is not a field of {spec.schema}"
        assert spec.partitions >= 1
        assert int(spec.config["retention.ms"]) > 0


def test_prefix_maps_both_ways() -> None:
    settings = CommonSettings(topic_prefix="abc.")
    assert settings.topic("features") == "abc.features"
    assert settings.logical_topic("abc.features") == "features"
    assert topic_spec(settings, "features").schema == "FeatureVector"


def _listed(name: str, leaders: list[int], error: KafkaError | None = None) -> TopicMetadata:
    """A list_topics() entry as the client builds it."""
    meta = TopicMetadata()
    meta.topic, meta.error = name, error
    for i, leader in enumerate(leaders):
        part = PartitionMetadata()
        part.id, part.leader = i, leader
        meta.partitions[i] = part
    return meta


def test_catalogue_topics_carry_prefix_partitions_and_config() -> None:
    topics = {t.name: t for t in catalogue_topics(CommonSettings(topic_prefix="p."))}
    assert set(topics) == {f"p.{name}" for name in DESIGN_TOPICS}
    assert topics["p.model.events"].partitions == 1 and topics["p.features"].partitions == 3
    assert topics["p.logs"].config["retention.ms"] == "259200000"


def test_a_topic_is_served_only_when_listed_without_error_and_every_partition_has_a_leader() -> None:
    wanted = [KafkaTopic(name, 3) for name in ("ok", "absent", "leaderless", "failing", "empty")]
    listed = {
        "ok": _listed("ok", [1, 1, 1]),
        "leaderless": _listed("leaderless", [1, -1, 1]),
        "failing": _listed("failing", [], KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)),
        "empty": _listed("empty", []),
    }
    why = unserved_topics(listed, wanted)
    assert set(why) == {"absent", "leaderless", "failing", "empty"}
    assert why["absent"] == "not in the cluster metadata"
    assert why["leaderless"] == "partitions [1] have no leader"
    assert why["failing"].startswith("metadata error ")
    assert why["empty"] == "no partitions listed"
    assert unserved_topics(listed, [KafkaTopic("ok", 3)]) == {}
