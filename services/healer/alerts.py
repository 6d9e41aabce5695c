"""Alerts in plain English to a Slack-compatible webhook and to email.

A failed channel is logged and reported, never raised: an alert must not stop the healing loop.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING

import httpx

from services.healer.handlers import IncidentView

if TYPE_CHECKING:
    from services.healer.settings import HealerSettings

log = logging.getLogger(__name__)


def incident_alert(incident: IncidentView, headline: str, note: str = "") -> tuple[str, str]:
    """Subject and body: what failed, where, how often, the likely cause and what was done."""
    cause = incident.root_cause or "not determined"
    subject = f"[{incident.severity}] {incident.type} on {incident.service}: {headline}"
    lines = [
        f"{incident.type.replace('_', ' ').capitalize()} on {incident.service}"
        + (f" ({incident.target})" if incident.target else "")
        + f": {headline}.",
        f"Summary: {incident.summary}" if incident.summary else "",
        incident.explanation,
        f"Likely cause: {cause}. Seen {incident.count} time(s). Incident {incident.incident_id}.",
        note,
    ]
    return subject, "\n".join(line for line in lines if line)


class Alerter:
    """Sends to every configured channel; returns channel -> 'sent' or the error."""

    def __init__(self, settings: HealerSettings) -> None:
        self.settings = settings

    def send(self, subject: str, text: str) -> dict[str, str]:
        results: dict[str, str] = {}
        url = self.settings.secret("alert_webhook_url")
        if url:
            results["webhook"] = self._webhook(url, subject, text)
        if self.settings.smtp_host and self.settings.alert_email_to:
            results["email"] = self._email(subject, text)
        if not results:
            log.warning("alert (no channel configured): %s\n%s", subject, text)
        return results

    def _webhook(self, url: str, subject: str, text: str) -> str:
        """Post the alert; the error it reports names the failure, never the URL (it holds the token)."""
        try:
            resp = httpx.post(url, json={"text": f"*{subject}*\n{text}"}, timeout=self.settings.alert_timeout_s)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {str(exc).replace(url, '<webhook>')}"
        else:
            if resp.is_success:
                return "sent"
            error = f"the webhook answered HTTP {resp.status_code} {resp.reason_phrase}"
        log.error("alert webhook failed: %s", error)
        return f"error: {error}"

    def _email(self, subject: str, text: str) -> str:
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.settings.alert_email_from
        msg["To"] = ", ".join(self.settings.alert_email_to)
        msg.set_content(text)
        try:
            with smtplib.SMTP(
                self.settings.smtp_host, self.settings.smtp_port, timeout=self.settings.alert_timeout_s
            ) as smtp:
                smtp.send_message(msg)
            return "sent"
        except (OSError, smtplib.SMTPException) as exc:
            log.error("alert email failed: %s", exc)
            return f"error: {exc}"
