"""A person's data deleted (privacy.signals.subject_erased): the webhook payloads that carried
their referral lose the cédula and name (a delivery still due is sent without them)."""

from privacy.signals import scrub_json_field

from .models import WebhookDelivery


def scrub_deliveries(sender, cedula: str, names: list[str], **kwargs) -> None:
    scrub_json_field(WebhookDelivery, "payload", cedula=cedula, names=names)
