"""The plan's signal: a Django-Q2 task per new referral, queued once the row is committed."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django_q.tasks import async_task

from .models import Referral

VERIFY = "tests.legacy_portal.tasks.verify_cedula"


@receiver(post_save, sender=Referral)
def queue_verification(sender, instance, created, **kwargs):
    if created:
        transaction.on_commit(lambda: async_task(VERIFY, instance.id))
