"""The intake queue: form posts, webhooks and async JSON calls kept in Cloud Storage
(``queue``), admitted by create-items (``enqueue``) and written to Webflow by drain-intake
(``drain``), 100 a request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_surface

if TYPE_CHECKING:
    from shared.intake.drain import DrainGate, DrainSettings, drain, failed_entry, main
    from shared.intake.enqueue import quarantine_form, queue_form, queue_json_call, queue_webhook
    from shared.intake.queue import IntakeQueue, SchemaSource, intake_queue

__all__ = [
    "DrainGate",
    "DrainSettings",
    "IntakeQueue",
    "SchemaSource",
    "drain",
    "failed_entry",
    "intake_queue",
    "main",
    "quarantine_form",
    "queue_form",
    "queue_json_call",
    "queue_webhook",
]

__getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "DrainGate": "drain",
        "DrainSettings": "drain",
        "IntakeQueue": "queue",
        "SchemaSource": "queue",
        "drain": "drain",
        "failed_entry": "drain",
        "intake_queue": "queue",
        "main": "drain",
        "quarantine_form": "enqueue",
        "queue_form": "enqueue",
        "queue_json_call": "enqueue",
        "queue_webhook": "enqueue",
    },
)
