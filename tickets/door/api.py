"""Ticket codes over HTTP: the holder's QR images and the staff check-in."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from project.openapi import FORBIDDEN, NOT_FOUND, THROTTLED, UNAUTHENTICATED, error
from tickets import selectors
from tickets.delivery.qr import qr_png, qr_svg
from tickets.door.redemption import CodeAlreadyUsed, code_redeem
from tickets.door.serializers import RedemptionSerializer
from tickets.permissions import REDEEM, HasPerm


class ErrorsAsJson(BaseContentNegotiation):
    """An image view answers its image whatever the client accepts; only its
    errors go through a renderer, and those are JSON like every other error."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _CodeQrApi(APIView):
    content_negotiation_class = ErrorsAsJson
    media_type = ""

    def render(self, code: str) -> bytes:
        raise NotImplementedError

    def get(self, request, purchase_id, code):
        ticket_code = selectors.purchase_code(purchase_id=purchase_id, code=code)
        response = HttpResponse(self.render(ticket_code.code), content_type=self.media_type)
        # The image of a code never changes; only the holder of the purchase id has its URL.
        response["Cache-Control"] = "private, max-age=86400"
        return response


@extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.BINARY, 404: NOT_FOUND})
class CodeQrSvgApi(_CodeQrApi):
    media_type = "image/svg+xml"

    def render(self, code: str) -> bytes:
        return qr_svg(code)


@extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY, 404: NOT_FOUND})
class CodeQrPngApi(_CodeQrApi):
    media_type = "image/png"

    def render(self, code: str) -> bytes:
        return qr_png(code)


class CodeRedeemApi(APIView):
    permission_classes = [HasPerm(REDEEM)]
    throttle_scope = "code_redeem"

    @extend_schema(
        request=None,
        responses={
            200: RedemptionSerializer,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: error("No ticket has this code"),
            409: OpenApiResponse(
                response=inline_serializer(
                    name="AlreadyUsed",
                    fields={
                        "detail": serializers.CharField(),
                        "code": serializers.CharField(),
                        "used_at": serializers.DateTimeField(),
                    },
                ),
                description="Already used (code `already_used`, with the first `used_at`)",
            ),
            410: error("The ticket was voided (refunded or cancelled)"),
            429: THROTTLED,
        },
    )
    def post(self, request, code):
        try:
            ticket_code = code_redeem(code=code, staff_user=request.user)
        except CodeAlreadyUsed as exc:
            return Response(
                {"detail": exc.detail, "code": exc.code, "used_at": exc.used_at},
                status=exc.http_status,
            )
        return Response(RedemptionSerializer(ticket_code).data)
