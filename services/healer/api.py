"""HTTP: the incident list and each incident's postmortem, on the common app (/health /ready /metrics)."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import PlainTextResponse

from services.healer.audit import Auditor


def add_routes(app: FastAPI, auditor: Auditor) -> FastAPI:
    @app.get("/incidents")
    def incidents(
        limit: int = Query(100, ge=1, le=1000), status: str | None = Query(None, max_length=32)
    ) -> list[dict[str, object]]:
        return auditor.list_incidents(limit, status)

    @app.get("/incidents/{incident_id}/postmortem", response_class=PlainTextResponse)
    def postmortem(incident_id: str) -> str:
        text = auditor.postmortem(incident_id)
        if text is None:
            raise HTTPException(status_code=404, detail=f"no incident {incident_id!r}")
        return text

    return app
