"""What the API reads and writes. The referral fields are the webhooks' own (one list)."""

from django.conf import settings
from rest_framework import serializers

from referrals.models import Referral, Status
from webhooks.events import REFERRAL_FIELDS


class ReferralSerializer(serializers.ModelSerializer):
    import_batch_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Referral
        fields = REFERRAL_FIELDS
        read_only_fields = REFERRAL_FIELDS


class ReferralInputSerializer(serializers.Serializer):
    cedula = serializers.CharField(
        max_length=40, help_text="Digits, optionally with dots or spaces: 1.020.304.050"
    )
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    data_authorization = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Required, true: you attest that the person authorized the campaign to handle "
        "their data under the data policy in force (Ley 1581 de 2012). Recorded with the "
        "referral; without it nothing is created (error code authorization_required).",
    )

    def validate_full_name(self, value):
        if "\x00" in value:
            raise serializers.ValidationError("The name has invalid characters.")
        return " ".join(value.split())


class BatchInputSerializer(serializers.Serializer):
    # Each row is checked on its own (each gets its answer): only the envelope is checked here.
    referrals = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=settings.API_MAX_BATCH,
        help_text=f"Up to {settings.API_MAX_BATCH} objects like the single create's body.",
    )


class RowErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class BatchRowSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    ok = serializers.BooleanField()
    referral = ReferralSerializer(required=False)
    error = RowErrorSerializer(required=False)


class BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = BatchRowSerializer(many=True)


class StatusCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    in_flight = serializers.IntegerField()
    by_status = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=f"One key per status: {', '.join(Status.values)}",
    )


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
