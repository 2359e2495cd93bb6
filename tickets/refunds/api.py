"""Refund of a ticket purchase by staff holding the refund permission: the same
service as the admin action."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from project.openapi import FORBIDDEN, NOT_FOUND, THROTTLED, UNAUTHENTICATED, error, invalid
from tickets import selectors
from tickets.permissions import REFUND, HasPerm
from tickets.refunds import services
from tickets.refunds.serializers import RefundRequestSerializer
from tickets.sale.serializers import PurchaseDetailSerializer


class PurchaseRefundApi(APIView):
    permission_classes = [HasPerm(REFUND)]
    throttle_scope = "purchase_refund"

    @extend_schema(
        request=RefundRequestSerializer,
        responses={
            200: PurchaseDetailSerializer,
            400: invalid(),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error("Not refundable: not paid, a code was used, or the gateway refused"),
            429: THROTTLED,
            503: error("The gateway could not be reached"),
        },
    )
    def post(self, request, purchase_id):
        serializer = RefundRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.purchase_refund(
            purchase_id=purchase_id, allow_used=serializer.validated_data["allow_used"]
        )
        # Re-read with the ticket and the (now void) codes for the full purchase shape.
        purchase = selectors.purchase_detail(purchase_id=purchase_id)
        return Response(PurchaseDetailSerializer(purchase).data)
