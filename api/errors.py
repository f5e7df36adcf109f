"""Every API error as JSON: a stable `code` for programs and a `message` for people."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback


class ApiError(exceptions.APIException):
    """An error with its own code, e.g. ApiError(409, "in_flight", "…")."""

    def __init__(self, status_code: int, code: str, message: str):
        self.status_code = status_code
        super().__init__(detail=message, code=code)
        self.code = code


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handling, logged
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    extra = {}
    if isinstance(exc, ApiError):
        code, message = exc.code, str(exc.detail)
    elif isinstance(exc, exceptions.ValidationError):
        code, message = "invalid", "The request has invalid fields."
        extra["fields"] = exc.detail
    else:
        code, message = exc.default_code, str(exc.detail)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(int(exc.wait) + 1)
        extra["retry_after"] = int(exc.wait) + 1
    set_rollback()
    return Response(error_body(code, message, **extra), status=exc.status_code, headers=headers)
