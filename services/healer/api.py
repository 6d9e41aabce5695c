"""HTTP: the incident list, each incident's postmortem, and a human closing an escalated incident,
on the common app (/health /ready /metrics)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Body, FastAPI, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse

from services.healer.audit import Auditor

# What ids and statuses look like: anything else is a 422 before it reaches PostgreSQL (which refuses
# a NUL byte in text with an error, not an empty answer).
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,200}$"
STATUS_PATTERN = r"^[a-z_]{1,32}$"

# incident id, note -> resolved, unknown, not_escalated or busy
Resolve = Callable[[str, str], str]
_REFUSED = {
    "unknown": (404, "no incident {id!r}"),
    "not_escalated": (409, "incident {id!r} is not escalated to a human (being healed, or already closed)"),
    "busy": (409, "incident {id!r}: another episode of its fingerprint is being decided; try again"),
}


def add_routes(app: FastAPI, auditor: Auditor, resolve: Resolve | None = None) -> FastAPI:
    @app.get("/incidents")
    def incidents(
        limit: int = Query(100, ge=1, le=1000), status: str | None = Query(None, pattern=STATUS_PATTERN)
    ) -> list[dict[str, object]]:
        return auditor.list_incidents(limit, status)

    @app.get(
        "/incidents/{incident_id}/postmortem",
        response_class=PlainTextResponse,
        responses={404: {"description": "no such incident"}},
    )
    def postmortem(incident_id: str = Path(pattern=ID_PATTERN)) -> str:
        text = auditor.postmortem(incident_id)
        if text is None:
            raise HTTPException(status_code=404, detail=f"no incident {incident_id!r}")
        return text

    if resolve is not None:

        @app.post(
            "/incidents/{incident_id}/resolve",
            responses={
                400: {"description": "the body cannot be read (not UTF-8, not JSON)"},
                404: {"description": "no such incident"},
                409: {"description": "not escalated to a human, or being decided right now"},
            },
        )
        def resolve_incident(
            incident_id: str = Path(pattern=ID_PATTERN), note: str = Body("", embed=True, max_length=2000)
        ) -> dict[str, str]:
            """A human dealt with an escalated incident: the next report of its problem starts a new episode."""
            outcome = resolve(incident_id, note)
            if outcome in _REFUSED:
                code, message = _REFUSED[outcome]
                raise HTTPException(status_code=code, detail=message.format(id=incident_id))
            return {"incident_id": incident_id, "status": outcome}

    return app
