"""Stripe's webhook endpoint: verify, store once, enqueue; a worker retrieves
the PaymentIntent and the owning product reconciles (gateways/webhooks.py), so
Stripe gets its 2xx at once."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gateways import get_gateway, webhooks
from gateways.api import WebhookReceiptSerializer
from gateways.models import StripeCharge
from gateways.stripe import events
from project.openapi import NOT_FOUND, error


class StripeWebhookApi(APIView):
    # Authenticated by its signature alone: no session, so no CSRF, and no token.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        parameters=[OpenApiParameter(events.SIGNATURE_HEADER, str, OpenApiParameter.HEADER)],
        responses={
            202: OpenApiResponse(WebhookReceiptSerializer, description="Accepted for processing"),
            200: OpenApiResponse(WebhookReceiptSerializer, description="Known event, ignored"),
            401: error("Stripe-Signature missing"),
            403: error("Bad signature, stale timestamp, or no secret configured"),
            404: NOT_FOUND,
        },
        description="Stripe's events (PAYMENT_GATEWAY=stripe only).",
    )
    def post(self, request):
        if get_gateway().name != "stripe":
            raise Http404
        event = events.event_verify(
            body=request.body, signature=request.headers.get(events.SIGNATURE_HEADER)
        )
        # Our key for the intent (none for an intent we did not make, or an event
        # we only record): the worker asks Stripe about that key's intent.
        key = ""
        if event.intent_id:
            key = (
                StripeCharge.objects.filter(intent_id=event.intent_id)
                .values_list("key", flat=True)
                .first()
            ) or ""
        kind = webhooks.ANY_OWNER
        if event.dispute_id:  # the worker retrieves the dispute, then finds its charge
            kind, key = webhooks.DISPUTE, event.dispute_id
        stored, created = webhooks.webhook_receive(
            gateway="stripe",
            event_id=event.id,
            event_type=event.type[:100],
            kind=kind,
            object_id=key,
            payload=event.payload,
        )
        return Response(
            {"event_id": stored.event_id, "duplicate": not created},
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )
