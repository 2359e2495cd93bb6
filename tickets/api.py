"""Ticket API: each view parses its input, calls one service or selector and
serializes the result. Business rules live in tickets/services.py."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from project.openapi import FORBIDDEN, NOT_FOUND, THROTTLED, UNAUTHENTICATED, error, invalid
from project.polling import polling_response, state_etag
from tickets import selectors, services
from tickets.errors import TicketUnavailable
from tickets.idempotency import (
    idempotency_claim,
    idempotency_release,
    idempotency_store,
    request_fingerprint,
)
from tickets.models import TicketPurchase
from tickets.permissions import SimulationEnabled
from tickets.serializers import (
    PaymentSubmitSerializer,
    PurchaseCreateSerializer,
    PurchaseDetailSerializer,
    PurchaseStatusSerializer,
    SimulatePaymentSerializer,
    TicketSerializer,
)

STATUS_FIELDS = ("id", "status", "payment_status", "failure_reason", "updated_at")


def _purchase_detail(purchase_id) -> TicketPurchase:
    queryset = TicketPurchase.objects.select_related("ticket").prefetch_related("codes")
    return get_object_or_404(queryset, pk=purchase_id)


def _status_url(request, purchase_id) -> str:
    return request.build_absolute_uri(reverse("purchase-status", args=[purchase_id]))


class TicketListApi(generics.ListAPIView):
    serializer_class = TicketSerializer

    def get_queryset(self):
        return selectors.tickets_on_sale()


@extend_schema_view(get=extend_schema(responses={200: TicketSerializer, 404: NOT_FOUND}))
class TicketDetailApi(generics.RetrieveAPIView):
    serializer_class = TicketSerializer

    def get_queryset(self):
        return selectors.tickets_on_sale()


class PurchaseCreateApi(APIView):
    throttle_scope = "purchase_create"

    @extend_schema(
        request=PurchaseCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={
            202: PurchaseDetailSerializer,
            400: invalid("Invalid input; nothing was created"),
            409: error("A request with this Idempotency-Key is in flight"),
            422: error("Idempotency-Key reused with a different body"),
            429: THROTTLED,
        },
    )
    def post(self, request):
        serializer = PurchaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if not key:
            return self._respond(request, self._create(request, serializer.validated_data))
        if len(key) > 255:
            raise ValidationError({"Idempotency-Key": ["At most 255 characters."]})
        claim = idempotency_claim(
            scope=f"purchase_create:{request.user.pk or 'anonymous'}",
            key=key,
            fingerprint=request_fingerprint(serializer.validated_data),
        )
        if claim.replay:
            return self._respond(request, claim.record.response_body, claim.record.response_status)
        try:
            body = self._create(request, serializer.validated_data, claim.record)
        except Exception:
            idempotency_release(record=claim.record)
            raise
        return self._respond(request, body)

    def _create(self, request, data: dict, record=None) -> dict:
        rendered: dict = {}

        def remember(purchase: TicketPurchase) -> None:
            rendered.update(PurchaseDetailSerializer(purchase).data)
            if record is not None:
                idempotency_store(
                    record=record, purchase=purchase, status=status.HTTP_202_ACCEPTED, body=rendered
                )

        try:
            services.purchase_create(**data, user=request.user, on_created=remember)
        except TicketUnavailable as exc:
            raise ValidationError({"ticket_id": [exc.detail]}) from exc
        return rendered

    def _respond(self, request, body: dict, code: int = status.HTTP_202_ACCEPTED) -> Response:
        return Response(
            body,
            status=code,
            headers={"Location": _status_url(request, body["purchase_id"])},
        )


class PurchaseStatusApi(APIView):
    """The polling endpoint: small, cheap, cacheable by ETag."""

    @extend_schema(
        responses={
            200: PurchaseStatusSerializer,
            304: OpenApiResponse(description="Unchanged since the ETag in If-None-Match"),
            404: NOT_FOUND,
        }
    )
    def get(self, request, purchase_id):
        row = TicketPurchase.objects.filter(pk=purchase_id).values(*STATUS_FIELDS).first()
        if row is None:
            raise Http404
        return polling_response(
            request,
            PurchaseStatusSerializer(row).data,
            etag=state_etag(row["status"], row["payment_status"], row["updated_at"].isoformat()),
            final=row["status"] in TicketPurchase.FINAL_STATUSES,
        )


class PurchaseDetailApi(APIView):
    @extend_schema(responses={200: PurchaseDetailSerializer, 404: NOT_FOUND})
    def get(self, request, purchase_id):
        return Response(PurchaseDetailSerializer(_purchase_detail(purchase_id)).data)


class PurchaseCompleteApi(APIView):
    @extend_schema(
        request=PaymentSubmitSerializer,
        responses={
            202: PurchaseStatusSerializer,
            400: invalid(),
            404: NOT_FOUND,
            409: error("No longer pending, or a payment was already submitted"),
        },
    )
    def post(self, request, purchase_id):
        get_object_or_404(TicketPurchase, pk=purchase_id)
        serializer = PaymentSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = services.purchase_submit_payment(
            purchase_id=purchase_id, payment_token=serializer.validated_data["payment_token"]
        )
        return Response(
            PurchaseStatusSerializer(purchase).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": _status_url(request, purchase.id)},
        )


class PurchaseSimulatePaymentApi(APIView):
    permission_classes = [SimulationEnabled]

    @extend_schema(
        request=SimulatePaymentSerializer,
        responses={
            202: PurchaseStatusSerializer,
            400: invalid(),
            404: error("No such purchase, or simulation is disabled"),
            409: error("No longer pending"),
        },
    )
    def post(self, request, purchase_id):
        get_object_or_404(TicketPurchase, pk=purchase_id)
        serializer = SimulatePaymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = services.purchase_simulate_callback(
            purchase_id=purchase_id, succeed=serializer.validated_data["outcome"] == "success"
        )
        return Response(
            PurchaseStatusSerializer(purchase).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": _status_url(request, purchase.id)},
        )


@extend_schema_view(
    get=extend_schema(responses={200: PurchaseDetailSerializer(many=True), 401: UNAUTHENTICATED})
)
class UserPurchasesApi(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = PurchaseDetailSerializer

    def get_queryset(self):
        return selectors.purchases_for_user(self.request.user)


class PurchasesDebugApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        responses={
            200: inline_serializer(
                name="PurchasesDebug",
                fields={
                    "counts": serializers.DictField(child=serializers.IntegerField()),
                    "stuck_in_payment": serializers.ListField(child=serializers.UUIDField()),
                    "never_started": serializers.ListField(child=serializers.UUIDField()),
                    "recent": PurchaseDetailSerializer(many=True),
                },
            ),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
        }
    )
    def get(self, request):
        stuck = selectors.purchases_stuck_in_payment(
            older_than_minutes=settings.STUCK_PAYMENT_MINUTES
        )
        unstarted = selectors.purchases_unstarted()
        recent = TicketPurchase.objects.select_related("ticket").prefetch_related("codes")[:20]
        return Response(
            {
                "counts": selectors.purchase_status_counts(),
                "stuck_in_payment": [str(pk) for pk in stuck.values_list("id", flat=True)[:50]],
                "never_started": [str(pk) for pk in unstarted.values_list("id", flat=True)[:50]],
                "recent": PurchaseDetailSerializer(recent, many=True).data,
            }
        )
