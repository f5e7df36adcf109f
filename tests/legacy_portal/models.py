from django.conf import settings
from django.db import models


class Referral(models.Model):
    """The old portal's referral, statuses as its plan named them."""

    STATUSES = [
        (s, s)
        for s in (
            "PENDING", "PROCESSING", "ACTIVE", "NOT_FOUND", "CANCELLED_DECEASED",
            "CANCELLED_OTHER", "ERROR", "TIMEOUT", "BLOCKED",
        )
    ]  # fmt: skip

    cedula = models.CharField(max_length=20, unique=True)
    nombre = models.CharField(max_length=200, blank=True)
    referred_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    status = models.CharField(max_length=32, choices=STATUSES, default="PENDING")
    departamento = models.CharField(max_length=100, blank=True)
    municipio = models.CharField(max_length=100, blank=True)
    puesto = models.CharField(max_length=200, blank=True)
    direccion = models.CharField(max_length=200, blank=True)
    mesa = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.cedula} ({self.status})"
