"""The intake queue: form posts, webhooks and async JSON calls kept in Cloud Storage
(``queue``), admitted by create-items (``enqueue``) and written to Webflow by drain-intake
(``drain``), 100 a request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_surface

if TYPE_CHECKING:
    from shared.intake.drain import DrainGate, DrainSettings, failed_entry
    from shared.intake.enqueue import quarantine_form, queue_form, queue_json_call, queue_webhook
    from shared.intake.queue import IntakeQueue, SchemaSource, intake_queue
    from shared.intake.settings import CreateItemsSettings, IntakeSettings

__all__ = [
    "CreateItemsSettings",
    "DrainGate",
    "DrainSettings",
    "IntakeQueue",
    "IntakeSettings",
    "SchemaSource",
    "failed_entry",
    "intake_queue",
    "quarantine_form",
    "queue_form",
    "queue_json_call",
    "queue_webhook",
]

__getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "CreateItemsSettings": "settings",
        "DrainGate": "drain",
        "DrainSettings": "drain",
        "IntakeQueue": "queue",
        "IntakeSettings": "settings",
        "SchemaSource": "queue",
        "failed_entry": "drain",
        "intake_queue": "queue",
        "quarantine_form": "enqueue",
        "queue_form": "enqueue",
        "queue_json_call": "enqueue",
        "queue_webhook": "enqueue",
    },
)
