"""A person's data deleted (privacy.signals.subject_erased): the API's kept answers
(Idempotency-Key replays) lose the cédula and name."""

from privacy.signals import scrub_json_field

from .models import IdempotentRequest


def scrub_kept_answers(sender, cedula: str, names: list[str], **kwargs) -> None:
    scrub_json_field(IdempotentRequest, "response", cedula=cedula, names=names)
