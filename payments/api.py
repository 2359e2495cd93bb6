"""Destination booking API: each view parses its input, calls one service or
selector and serializes the result. Business rules live in payments/services.py;
errors become statuses in project/api_errors.py."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors, services
from payments.models import Booking
from payments.serializers import (
    BookingCreateSerializer,
    BookingDetailSerializer,
    BookingStatusSerializer,
    DestinationSerializer,
)
from project.openapi import NO_SUCH_PAGE, NOT_FOUND, error, invalid
from project.polling import polling_response, state_etag


def _status_url(request, booking_id) -> str:
    return request.build_absolute_uri(reverse("booking-status", args=[booking_id]))


class DestinationListApi(generics.ListAPIView):
    serializer_class = DestinationSerializer

    def get_queryset(self):
        return selectors.destinations_active()

    @extend_schema(responses={200: DestinationSerializer(many=True), 404: NO_SUCH_PAGE})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class BookingCreateApi(APIView):
    throttle_scope = "booking_create"

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
        booking = services.booking_create(**serializer.validated_data)
        return Response(
            BookingDetailSerializer(selectors.booking_detail(booking_id=booking.id)).data,
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
        payload = selectors.booking_status(booking_id=booking_id)
        return polling_response(
            request,
            BookingStatusSerializer(payload).data,
            etag=state_etag(
                payload["status"], payload["payment_status"], payload["updated_at"].isoformat()
            ),
            final=payload["status"] in Booking.FINAL_STATUSES,
        )


class BookingCancelApi(APIView):
    throttle_scope = "booking_cancel"

    @extend_schema(
        description=(
            "Cancels a pending booking whose payment has not started; its payment fails with"
            " it. Cancelling a cancelled booking answers it again."
        ),
        request=None,
        responses={
            200: BookingStatusSerializer,
            404: NOT_FOUND,
            409: error("No longer pending, or a payment is in progress"),
        },
    )
    def post(self, request, booking_id):
        booking = services.booking_cancel(booking_id=booking_id)
        # The booking and its payment together make the status: one read of both.
        payload = selectors.booking_status(booking_id=booking.id)
        return Response(BookingStatusSerializer(payload).data)


@extend_schema_view(get=extend_schema(responses={200: BookingDetailSerializer, 404: NOT_FOUND}))
class BookingDetailApi(APIView):
    def get(self, request, booking_id):
        booking = selectors.booking_detail(booking_id=booking_id)
        return Response(BookingDetailSerializer(booking).data)
