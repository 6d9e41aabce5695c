"""The healer's reading of an incident under arbitrary input: an IncidentView or BadIncident (audited as a
refusal), never another exception that would dead-letter the incident unexplained.

The input is every record the codec can hand over on ``incidents`` (the Avro schema's types, any values).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from services.common.events import header
from services.common.incidents import INCIDENT_TYPES, UPSTREAM_DATA
from services.common.settings import REPO_ROOT
from services.healer.handlers import (
    REQUIRED_FIELDS,
    BadIncident,
    BadInputNote,
    attribute_to_bad_input,
    validate_incident,
)
from tests.unit.fuzz.fuzz_strategies import FUZZ, avro_values

INCIDENT: dict[str, Any] = json.loads((REPO_ROOT / "schemas" / "Incident.avsc").read_text())
TYPES = sorted(INCIDENT_TYPES)

# Decoded incidents whose type is usually one the healer knows, so the checks after the type are reached.
incidents = st.builds(
    lambda record, kind: {**record, "type": kind},
    avro_values(INCIDENT),
    st.one_of(st.sampled_from(TYPES), st.sampled_from(TYPES), st.text(max_size=12)),
)


def _incident(**fields: Any) -> dict[str, Any]:
    base = {
        **header("drift"),
        "incident_id": "i-1",
        "fingerprint": "f-1",
        "type": TYPES[0],
        "service": "inference",
        "first_seen": 1,
        "last_seen": 0,
        "count": 0,
        "evidence": {},
    }
    return {**base, **fields}


@FUZZ
@given(value=incidents)
@example(value=_incident(incident_id=""))
@example(value=_incident(first_seen=-(2**63), last_seen=2**63 - 1, ts=0))
@example(value=_incident(type="Data_Drift"))
def test_an_incident_is_read_or_refused_with_bad_incident(value: dict[str, Any]) -> None:
    try:
        view = validate_incident(value)
    except BadIncident as exc:
        missing = [f for f in REQUIRED_FIELDS if value.get(f) in (None, "")]
        assert (missing and ", ".join(missing) in str(exc)) or (not missing and value["type"] not in INCIDENT_TYPES)
        return
    assert view.type in INCIDENT_TYPES and view.count == (value["count"] or 1)
    assert view.incident_id == value["incident_id"] and view.evidence == value["evidence"]


@FUZZ
@given(
    value=incidents,
    note=st.one_of(
        st.none(), st.builds(BadInputNote, st.text(max_size=8), st.text(max_size=8), st.integers(-(2**63), 2**63 - 1))
    ),
    settle_ms=st.integers(0, 2**40),
)
def test_attributing_a_drift_to_bad_input_never_raises(
    value: dict[str, Any], note: BadInputNote | None, settle_ms: int
) -> None:
    try:
        view = validate_incident(value)
    except BadIncident:
        return
    judged = attribute_to_bad_input(view, note, settle_ms)
    assert judged.incident_id == view.incident_id and (judged is view or judged.root_cause == UPSTREAM_DATA)
