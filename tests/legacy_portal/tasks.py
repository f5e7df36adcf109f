"""The old portal's tasks. Its qcluster runs them in the cut-over's refusal test."""

import time

from .models import Referral


def verify_cedula(referral_id):
    time.sleep(0.5)  # a lookup takes a while: rows stay locked while it runs
    Referral.objects.filter(pk=referral_id).update(status="ACTIVE")


def check_stuck_referrals():
    pass


def send_digest(period):
    pass


def explode(referral_id):
    raise RuntimeError(f"verification of {referral_id} crashed")
