"""Ticket API: each view parses its input, calls one service or selector and
serializes the result. Business rules live in tickets/sale/purchases.py; errors become
statuses in project/api_errors.py."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from project.clients import client_address
from project.lean_door import api_error, plain_json
from project.openapi import (
    FORBIDDEN,
    NO_SUCH_PAGE,
    NOT_FOUND,
    UNAUTHENTICATED,
    error,
    invalid,
)
from project.polling import json_response, polling_response, state_etag
from project.throttling import rate_window
from tickets import selectors
from tickets.models import TicketPurchase
from tickets.permissions import VIEW_DEBUG, HasPerm, SimulationEnabled
from tickets.sale import accept, payment, purchases, waiting_room
from tickets.sale.bodies import purchase_status_body, waiting_row
from tickets.sale.serializers import (
    PaymentSubmitSerializer,
    PurchaseCreateSerializer,
    PurchaseDetailSerializer,
    PurchaseHolderDetailSerializer,
    PurchasesDebugSerializer,
    PurchaseStatusSerializer,
    SimulatePaymentSerializer,
    TicketSerializer,
)


def _status_url(request, purchase_id) -> str:
    return request.build_absolute_uri(reverse("purchase-status", args=[purchase_id]))


class TicketListApi(generics.ListAPIView):
    serializer_class = TicketSerializer

    def get_queryset(self):
        return selectors.tickets_on_sale()

    @extend_schema(responses={200: TicketSerializer(many=True), 404: NO_SUCH_PAGE})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema_view(get=extend_schema(responses={200: TicketSerializer, 404: NOT_FOUND}))
class TicketDetailApi(generics.RetrieveAPIView):
    serializer_class = TicketSerializer

    def get_queryset(self):
        return selectors.tickets_on_sale()


class PurchaseCreateApi(APIView):
    # Its rate is counted in the caps' round trip before the INSERT (one Redis
    # round trip, not two): the service takes the request's window.
    throttle_classes = ()
    THROTTLE_SCOPE = "purchase_create"

    @extend_schema(
        description=(
            "Accepts a purchase as pending; workers reserve the seats and charge it. Poll"
            " the status URL in `Location`, no sooner than `Retry-After` seconds (how long"
            " the ticket's queue takes to reach it)."
        ),
        request=PurchaseCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={
            202: PurchaseDetailSerializer,
            400: invalid("Invalid input, or the ticket is not on sale; nothing was created"),
            409: error(
                "Sold out (`sold_out`: no seats left and none held that could come back;"
                " nothing was created), or a request with this Idempotency-Key is in flight"
            ),
            422: error("Idempotency-Key reused with a different body"),
            429: error(
                "Too many requests (see Retry-After), or this client address or e-mail"
                " already has HOLD_CAP_PER_CLIENT / HOLD_CAP_PER_EMAIL seats of the ticket"
                " in purchases not yet ended (`hold_limit_reached`); nothing was created"
            ),
        },
    )
    def post(self, request):
        return _create_answer(request, request.data)


def _create_answer(request, data) -> HttpResponse:
    """The create's answer, for the DRF view and the lean door alike."""
    accepted = accept.purchase_accept(
        data=data,
        key=request.headers.get("Idempotency-Key"),
        user=request.user,
        client_address=client_address(request),
        throttle=rate_window(request, PurchaseCreateApi.THROTTLE_SCOPE),
    )
    location = _status_url(request, accepted.body["purchase_id"])
    return json_response(
        accepted.body,
        status=accepted.status,
        headers={"Location": location, "Retry-After": str(accepted.retry_after)},
    )


def purchase_create_fast(request) -> HttpResponse | None:
    """The lean door's create (project/lean_door.py): a JSON body it can read,
    else the DRF view parses it (and words any parse error as it always has)."""
    data = plain_json(request)
    if data is None:
        return None
    try:
        return _create_answer(request, data)
    except Exception as exc:
        return api_error(exc, request)


class PurchaseStatusApi(APIView):
    """The polling endpoint: small, cheap, cacheable by ETag; while the purchase
    waits in its ticket's line it says where it stands (the waiting room)."""

    @extend_schema(
        responses={
            200: PurchaseStatusSerializer,
            304: OpenApiResponse(description="Unchanged since the ETag in If-None-Match"),
            404: NOT_FOUND,
        }
    )
    def get(self, request, purchase_id):
        return _status_answer(request, purchase_id)


def purchase_status_fast(request, purchase_id) -> HttpResponse | None:
    """The lean door's poll (project/lean_door.py). Read-only, so any error is
    left to the DRF view to answer (a 404, an outage's 503)."""
    try:
        return _status_answer(request, purchase_id)
    except Exception:
        return None


def _status_answer(request, purchase_id) -> HttpResponse:
    """The poll's answer, for the DRF view and the lean door alike."""
    # While it waits in line Redis knows the whole answer (tickets/line.py);
    # otherwise, or when Redis does not know, the database says.
    in_line = waiting_room.in_line(purchase_id)
    if in_line is not None:
        row, place = waiting_row(purchase_id, in_line), in_line.place
    else:
        row = selectors.purchase_status(purchase_id=purchase_id)
        place = waiting_room.waiting_room(row)
    return polling_response(
        request,
        purchase_status_body(
            row,
            queue_position=place.position,
            estimated_wait_seconds=place.wait_seconds,
            waiting_list=_waiting_list_url(request, row),
        ),
        etag=state_etag(
            row["status"],
            row["payment_status"],
            row["updated_at"].isoformat(),
            place.position,
            place.wait_seconds,
        ),
        final=row["status"] in TicketPurchase.FINAL_STATUSES,
        retry_after=place.retry_after,
    )


def _waiting_list_url(request, status_row: dict) -> str | None:
    """Sold out is not the end: a purchase that failed for want of seats points
    to its ticket's waiting list."""
    sold_out = status_row["status"] == TicketPurchase.Status.FAILED
    if not sold_out or status_row["failure_reason"] != "sold_out":
        return None
    return request.build_absolute_uri(reverse("waiting-list-join", args=[status_row["ticket_id"]]))


class PurchaseDetailApi(APIView):
    @extend_schema(responses={200: PurchaseHolderDetailSerializer, 404: NOT_FOUND})
    def get(self, request, purchase_id):
        purchase = selectors.purchase_detail(purchase_id=purchase_id)
        return Response(PurchaseHolderDetailSerializer(purchase).data)


class PurchaseCompleteApi(APIView):
    throttle_scope = "purchase_complete"

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
        selectors.purchase_status(purchase_id=purchase_id)  # 404 before looking at the body
        serializer = PaymentSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = purchases.purchase_submit_payment(
            purchase_id=purchase_id, payment_token=serializer.validated_data["payment_token"]
        )
        return Response(
            PurchaseStatusSerializer(purchase).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": _status_url(request, purchase.id)},
        )


class PurchaseSimulatePaymentApi(APIView):
    throttle_scope = "purchase_simulate"
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
        selectors.purchase_status(purchase_id=purchase_id)  # 404 before looking at the body
        serializer = SimulatePaymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = payment.purchase_simulate_callback(
            purchase_id=purchase_id, succeed=serializer.validated_data["outcome"] == "success"
        )
        return Response(
            PurchaseStatusSerializer(purchase).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": _status_url(request, purchase.id)},
        )


class PurchaseCancelApi(APIView):
    throttle_scope = "purchase_cancel"

    @extend_schema(
        description=(
            "Cancels a pending purchase whose payment has not started; its seats come back"
            " at once. Cancelling a cancelled purchase answers it again."
        ),
        request=None,
        responses={
            200: PurchaseStatusSerializer,
            404: NOT_FOUND,
            409: error("No longer pending, or a payment is in progress"),
        },
    )
    def post(self, request, purchase_id):
        purchase = purchases.purchase_cancel(purchase_id=purchase_id)
        return Response(PurchaseStatusSerializer(purchase).data)


@extend_schema_view(
    get=extend_schema(responses={200: PurchaseDetailSerializer(many=True), 401: UNAUTHENTICATED})
)
class UserPurchasesApi(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = PurchaseDetailSerializer

    def get_queryset(self):
        return selectors.purchases_for_user(self.request.user)

    @extend_schema(
        responses={
            200: PurchaseDetailSerializer(many=True),
            401: UNAUTHENTICATED,
            404: NO_SUCH_PAGE,
        }
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PurchasesDebugApi(APIView):
    permission_classes = [HasPerm(VIEW_DEBUG)]

    @extend_schema(responses={200: PurchasesDebugSerializer, 401: UNAUTHENTICATED, 403: FORBIDDEN})
    def get(self, request):
        overview = selectors.purchases_overview(
            stuck_older_than_minutes=settings.STUCK_PAYMENT_MINUTES
        )
        return Response(PurchasesDebugSerializer(overview).data)
