"""The topic catalogue agrees with the schemas."""

from __future__ import annotations

from services.common.codec import AvroCodec
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.topics import load_catalogue, topic_spec

DESIGN_TOPICS = {
    "interactions.raw", "interactions.valid", "features", "predictions", "labels", "model.events",
    "commands", "logs", "incidents", "actions", "deadletter",
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
