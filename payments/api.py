"""Destination booking API: each view parses its input, calls one service or
selector and serializes the result. Business rules live in payments/services.py."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors, services
from payments.errors import BookingRejected
from payments.models import Booking
from payments.serializers import (
    BookingCreateSerializer,
    BookingDetailSerializer,
    BookingStatusSerializer,
    DestinationSerializer,
)
from project.openapi import NOT_FOUND, invalid
from project.polling import polling_response, state_etag

STATUS_FIELDS = (
    "id",
    "status",
    "payment__status",
    "failure_reason",
    "updated_at",
    "payment__updated_at",
)


def _booking_detail(booking_id) -> Booking:
    queryset = Booking.objects.select_related("destination", "payment")
    return get_object_or_404(queryset, pk=booking_id)


def _status_url(request, booking_id) -> str:
    return request.build_absolute_uri(reverse("booking-status", args=[booking_id]))


class DestinationListApi(generics.ListAPIView):
    serializer_class = DestinationSerializer

    def get_queryset(self):
        return selectors.destinations_active()


class BookingCreateApi(APIView):
    @extend_schema(
        request=BookingCreateSerializer,
        responses={
            202: BookingDetailSerializer,
            400: invalid("Invalid input; nothing was created"),
        },
    )
    def post(self, request):
        serializer = BookingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            booking = services.booking_create(**serializer.validated_data)
        except BookingRejected as exc:
            raise ValidationError({exc.field: [exc.detail]}) from exc
        return Response(
            BookingDetailSerializer(_booking_detail(booking.id)).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": _status_url(request, booking.id)},
        )


class BookingStatusApi(APIView):
    """The polling endpoint: small, cheap, cacheable by ETag."""

    @extend_schema(
        responses={
            200: BookingStatusSerializer,
            304: OpenApiResponse(description="Unchanged since the ETag in If-None-Match"),
            404: NOT_FOUND,
        }
    )
    def get(self, request, booking_id):
        row = Booking.objects.filter(pk=booking_id).values(*STATUS_FIELDS).first()
        if row is None:
            raise Http404
        payload = self._payload(row)
        return polling_response(
            request,
            BookingStatusSerializer(payload).data,
            etag=state_etag(
                payload["status"], payload["payment_status"], payload["updated_at"].isoformat()
            ),
            final=row["status"] in Booking.FINAL_STATUSES,
        )

    @staticmethod
    def _payload(row: dict) -> dict:
        # The booking and its payment change apart (pending -> processing touches
        # only the payment): the later of the two is when the status last changed.
        return {
            "booking_id": row["id"],
            "status": row["status"],
            "payment_status": row["payment__status"],
            "failure_reason": row["failure_reason"],
            "updated_at": max(row["updated_at"], row["payment__updated_at"]),
        }


@extend_schema_view(get=extend_schema(responses={200: BookingDetailSerializer, 404: NOT_FOUND}))
class BookingDetailApi(APIView):
    def get(self, request, booking_id):
        return Response(BookingDetailSerializer(_booking_detail(booking_id)).data)
