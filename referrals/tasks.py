"""Celery tasks: thin wrappers over the services. Routing and limits live in settings."""

from celery import shared_task

from . import verification


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def verify_referral(self, referral_id: int) -> str:
    return verification.verify_referral(referral_id, holder=self.request.id or "")
