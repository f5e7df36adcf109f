"""/api/v1/: referrals for programs, scoped like the portal (referrals.selectors)."""

import json

from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from privacy import audit
from referrals import selectors
from referrals import services as referral_services
from referrals.cedula import InvalidCedula
from referrals.filters import ReferralFilters, apply_filters
from referrals.models import ConsentMethod, Referral, Status

from . import services
from .errors import ApiError
from .serializers import (
    BatchInputSerializer,
    BatchResultSerializer,
    ErrorSerializer,
    ReferralInputSerializer,
    ReferralSerializer,
    StatusCountsSerializer,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Any unique string (e.g. a UUID): a retry with the same key and body creates "
    "nothing new and gets the first answer again (kept 24 h).",
)
FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=[*Status.values, "delayed"]),
    OpenApiParameter("municipio", str),
    OpenApiParameter("puesto", str),
    OpenApiParameter("q", str, description="A cédula's beginning, or part of a name"),
]
# The same answer for everyone who may not see the referral: the API never says who is in the
# program (referrals.services.NOT_REGISTRABLE, in the API's English).
NOT_REGISTRABLE = (
    "This cédula cannot be registered. The request was recorded for the campaign's team to review."
)
ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 409: ErrorSerializer, 429: ErrorSerializer}


def readable_rows(user):
    """The referrals `user` may read row by row; a viewer reads the counts only (as in the
    portal)."""
    if not selectors.can_read_rows(user):
        raise ApiError(403, "counts_only", "This account may read the status counts only.")
    return selectors.visible_referrals(user)


class ReferralCursor(CursorPagination):
    ordering = "-id"  # newest first, like the portal; unique, so pages never overlap
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _row(user, data: dict) -> tuple[int, dict]:
    """Create one referral from `data`: (status code, answer) with a stable error code."""
    form = ReferralInputSerializer(data=data)
    if not form.is_valid():
        fields = form.errors
        if "cedula" in fields:
            return 400, {"code": "invalid_cedula", "message": str(fields["cedula"][0])}
        return 400, {"code": "invalid", "message": json.dumps(fields, ensure_ascii=False)}
    data = dict(form.validated_data)
    if not data.pop("data_authorization"):
        return 400, {
            "code": "authorization_required",
            "message": "Set data_authorization to true to attest that the person authorized the "
            "handling of their data under the data policy in force; nothing was created.",
        }
    try:
        referral = referral_services.create_referral(
            user=user,
            source=Referral.Source.API,
            authorization=referral_services.authorization(ConsentMethod.API_ATTESTATION, by=user),
            **data,
        )
    except InvalidCedula as exc:
        return 400, {"code": "invalid_cedula", "message": exc.translated()}
    except referral_services.AlreadyRegistered as exc:
        if exc.referral is not None:  # the caller may see it: say which
            return 409, {
                "code": "already_registered",
                "message": f"This cédula is already registered: referral {exc.referral.pk}.",
            }
        return 409, {"code": "not_registrable", "message": NOT_REGISTRABLE}
    except referral_services.DailyCapReached as exc:
        return 429, {
            "code": "daily_cap",
            "message": f"Today's cap of {exc.cap} new referrals for this account is reached.",
        }
    return 201, ReferralSerializer(referral).data


def _idempotent(request, answer):
    """Run `answer() -> (status, body)` once per Idempotency-Key (none: just run it)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        code, body = answer()
        return Response(body, status=code)
    if len(key) > 200:
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key is 200 characters at most.")
    try:
        code, body, replayed = services.answer_once(
            user=request.user,
            key=key,
            fingerprint=services.body_fingerprint(request.body),
            answer=answer,
        )
    except services.KeyReused:
        raise ApiError(
            422, "idempotency_key_reused", "This Idempotency-Key was used with another body."
        ) from None
    except services.KeyInUse:
        raise ApiError(
            409, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress."
        ) from None
    response = Response(body, status=code)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class ReferralList(generics.ListAPIView):
    serializer_class = ReferralSerializer
    pagination_class = ReferralCursor

    def get_queryset(self):
        filters = ReferralFilters.from_params(self.request.query_params)
        return apply_filters(readable_rows(self.request.user), filters)

    @extend_schema(
        summary="List referrals", parameters=FILTER_PARAMETERS, responses={200: ReferralSerializer}
    )
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        filters = ReferralFilters.from_params(request.query_params).as_query()
        audit.record(audit.Action.LIST_VIEWED, request=request, filters=filters, via="api")
        return response

    @extend_schema(
        summary="Create a referral",
        request=ReferralInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: ReferralSerializer, **ERRORS},
    )
    def post(self, request):
        def answer():
            code, body = _row(request.user, request.data if isinstance(request.data, dict) else {})
            return code, body if code == 201 else {"error": body}

        return _idempotent(request, answer)


class ReferralBatchCreate(APIView):
    @extend_schema(
        summary="Create up to API_MAX_BATCH referrals, each row answered",
        request=BatchInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: BatchResultSerializer, **ERRORS},
    )
    def post(self, request):
        envelope = BatchInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        rows = envelope.validated_data["referrals"]

        def answer():
            results = []
            for index, data in enumerate(rows):
                code, body = _row(request.user, data)
                if code == 201:
                    results.append({"index": index, "ok": True, "referral": body})
                else:
                    results.append({"index": index, "ok": False, "error": body})
            created = sum(r["ok"] for r in results)
            return 200, {"created": created, "rejected": len(results) - created, "results": results}

        return _idempotent(request, answer)


class ReferralDetail(generics.RetrieveAPIView):
    serializer_class = ReferralSerializer

    def get_queryset(self):
        return readable_rows(self.request.user)

    @extend_schema(
        summary="Read one referral", responses={200: ReferralSerializer, 404: ErrorSerializer}
    )
    def get(self, request, *args, **kwargs):
        referral = self.get_object()
        audit.record(audit.Action.REFERRAL_VIEWED, request=request, target=referral, via="api")
        return Response(self.get_serializer(referral).data)


class ReferralReverify(APIView):
    @extend_schema(
        summary="Verify a referral again (final states only)",
        request=None,
        responses={202: ReferralSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request, pk: int):
        referral = generics.get_object_or_404(readable_rows(request.user), pk=pk)
        if referral.status in Status.in_flight():
            raise ApiError(409, "in_flight", "This referral is being verified already.")
        # The portal's rules: the caller's scope, the cooldown, the caller's daily cap.
        result = referral_services.reverify_referrals(
            actor=request.user, referrals=Referral.objects.filter(pk=pk)
        )
        if not result.queued:
            if result.capped:
                raise ApiError(429, "reverify_daily_cap", "Today's re-verifications are used up.")
            if result.cooling:
                raise ApiError(409, "reverify_cooldown", "It was asked again too recently.")
            raise ApiError(409, "not_eligible", "Only failed, blocked or old answers go again.")
        referral.refresh_from_db()
        return Response(ReferralSerializer(referral).data, status=status.HTTP_202_ACCEPTED)


class StatusCounts(APIView):
    @extend_schema(summary="Referrals by status", responses={200: StatusCountsSerializer})
    def get(self, request):
        rows = (
            selectors.visible_referrals(request.user)
            .order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
        )
        found = dict(rows)
        by_status = {s: found.get(s, 0) for s in Status.values}
        return Response(
            {
                "total": sum(by_status.values()),
                "in_flight": sum(by_status[s] for s in Status.in_flight()),
                "by_status": by_status,
            }
        )
