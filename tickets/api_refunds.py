"""Staff-only refund of a ticket purchase: the same service as the admin action."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.gateways import TransientGatewayError
from project.errors import DomainError
from project.openapi import FORBIDDEN, NOT_FOUND, UNAUTHENTICATED, error, invalid
from tickets import services
from tickets.models import TicketPurchase
from tickets.serializers import PurchaseDetailSerializer
from tickets.serializers_codes import RefundRequestSerializer


class GatewayUnavailable(DomainError):
    code = "gateway_unavailable"
    http_status = 503
    default_detail = "The payment gateway could not be reached; nothing was changed. Try again."


class PurchaseRefundApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        request=RefundRequestSerializer,
        responses={
            200: PurchaseDetailSerializer,
            400: invalid(),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error("Not refundable: not paid, a code was used, or the gateway refused"),
            503: error("The gateway could not be reached"),
        },
    )
    def post(self, request, purchase_id):
        serializer = RefundRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.purchase_refund(
                purchase_id=purchase_id, allow_used=serializer.validated_data["allow_used"]
            )
        except TicketPurchase.DoesNotExist as exc:
            raise NotFound() from exc
        except TransientGatewayError as exc:
            raise GatewayUnavailable() from exc
        purchase = (
            TicketPurchase.objects.select_related("ticket")
            .prefetch_related("codes")
            .get(pk=purchase_id)
        )
        return Response(PurchaseDetailSerializer(purchase).data)
