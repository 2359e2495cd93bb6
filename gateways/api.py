"""The gateways' callback endpoint. It verifies, stores and enqueues; a worker
does the rest, so the gateway gets its 2xx at once."""

import json

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gateways import get_gateway, signing, webhooks
from project.openapi import NOT_FOUND, error, invalid


class WebhookObjectSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=50)
    id = serializers.UUIDField()


class WebhookEventSerializer(serializers.Serializer):
    """What a gateway callback must carry: its own event id and the object (our
    idempotency key) it is about. Anything else it says is kept, not trusted."""

    id = serializers.CharField(max_length=255)
    type = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    data = WebhookObjectSerializer()


class WebhookReceiptSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    duplicate = serializers.BooleanField()


class GatewayWebhookApi(APIView):
    # Authenticated by its signature alone: no session, so no CSRF, and no token.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=WebhookEventSerializer,
        parameters=[
            OpenApiParameter(signing.SIGNATURE_HEADER, str, OpenApiParameter.HEADER),
            OpenApiParameter(signing.TIMESTAMP_HEADER, str, OpenApiParameter.HEADER),
        ],
        responses={
            202: OpenApiResponse(WebhookReceiptSerializer, description="Accepted for processing"),
            200: OpenApiResponse(WebhookReceiptSerializer, description="Known event, ignored"),
            400: invalid("Signed, but not an event this endpoint understands"),
            401: error("Signature headers missing"),
            403: error("Bad signature, stale or future timestamp, or no secret configured"),
            404: NOT_FOUND,
        },
    )
    def post(self, request, gateway: str):
        if gateway != get_gateway().name:
            raise Http404
        body = request.body  # the exact bytes that were signed
        signing.webhook_verify(
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
            signature=request.headers.get(signing.SIGNATURE_HEADER),
            body=body,
        )
        serializer = WebhookEventSerializer(data=self._json(body))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event, created = webhooks.webhook_receive(
            gateway=gateway,
            event_id=data["id"],
            event_type=data["type"],
            kind=data["data"]["kind"],
            object_id=str(data["data"]["id"]),
            payload=serializer.initial_data,
        )
        return Response(
            {"event_id": event.event_id, "duplicate": not created},
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )

    @staticmethod
    def _json(body: bytes) -> dict:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError("The body is not JSON.") from exc
        if not isinstance(payload, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        return payload
