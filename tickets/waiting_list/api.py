"""The waiting list's API: join a sold-out ticket's line, follow the entry,
buy the offered seats, decline, leave. Rules live in tickets/waiting_list/offers.py.
The entry's id is its holder's secret, as a purchase's is."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from project.clients import client_address
from project.openapi import NOT_FOUND, THROTTLED, error, invalid
from tickets import selectors
from tickets.models import WaitingListEntry
from tickets.sale.serializers import PurchaseDetailSerializer
from tickets.waiting_list import offers, services
from tickets.waiting_list.serializers import (
    OfferTakeSerializer,
    WaitingListEntrySerializer,
    WaitingListJoinSerializer,
    WaitingListPlaceSerializer,
)


def entry_response(entry: WaitingListEntry, *, status_code: int = status.HTTP_200_OK) -> Response:
    position = selectors.waiting_position(entry)
    body = WaitingListEntrySerializer(entry, context={"position": position}).data
    return Response(body, status=status_code)


class WaitingListJoinApi(APIView):
    throttle_scope = "waiting_list_join"

    @extend_schema(
        description=(
            "Joins a sold-out ticket's waiting list. When seats come back they are offered"
            " to the oldest entries that fit, by e-mail, for WAITING_LIST_OFFER_SECONDS."
            " The same e-mail joins a ticket's list once: joining again answers 200 with"
            " where that entry stands, without its id, and e-mails the link to its place"
            " (the id is the entry's secret: only the address's owner may act on it)."
        ),
        request=WaitingListJoinSerializer,
        responses={
            201: WaitingListEntrySerializer,
            200: WaitingListPlaceSerializer,
            400: invalid("Invalid input, or the ticket is not on sale"),
            404: error("No such ticket address (the ticket id is not a number)"),
            409: error("Seats are still on sale (`seats_on_sale`): buy instead"),
            429: THROTTLED,
        },
    )
    def post(self, request, ticket_id):
        serializer = WaitingListJoinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry, created = services.waiting_list_join(
            ticket_id=ticket_id, client_address=client_address(request), **serializer.validated_data
        )
        if not created:
            position = selectors.waiting_position(entry)
            return Response(WaitingListPlaceSerializer(entry, context={"position": position}).data)
        response = entry_response(entry, status_code=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(
            reverse("waiting-list-entry", args=[entry.pk])
        )
        return response


class WaitingListEntryApi(APIView):
    @extend_schema(responses={200: WaitingListEntrySerializer, 404: NOT_FOUND})
    def get(self, request, entry_id):
        return entry_response(selectors.waiting_list_entry(entry_id=entry_id))


class WaitingListLeaveApi(APIView):
    throttle_scope = "waiting_list_change"

    @extend_schema(
        description="Leaves the line; an open offer is declined and its seats pass on.",
        request=None,
        responses={200: WaitingListEntrySerializer, 404: NOT_FOUND, 429: THROTTLED},
    )
    def post(self, request, entry_id):
        return entry_response(services.waiting_list_leave(entry_id=entry_id))


class WaitingListDeclineApi(APIView):
    throttle_scope = "waiting_list_change"

    @extend_schema(
        description="Declines the open offer: its seats go to the next in line.",
        request=None,
        responses={
            200: WaitingListEntrySerializer,
            404: NOT_FOUND,
            409: error("No open offer (`offer_not_open`)"),
            429: THROTTLED,
        },
    )
    def post(self, request, entry_id):
        return entry_response(offers.offer_decline(entry_id=entry_id))


class WaitingListPurchaseApi(APIView):
    throttle_scope = "purchase_create"

    @extend_schema(
        description=(
            "Buys the offered seats: the purchase is created holding them (no race with"
            " open buyers); poll its status URL in `Location` like any purchase. Taking"
            " a taken offer answers its purchase again."
        ),
        request=OfferTakeSerializer,
        responses={
            202: PurchaseDetailSerializer,
            400: invalid(),
            404: NOT_FOUND,
            409: error("No open offer: taken by nobody and lapsed, or declined (`offer_not_open`)"),
            429: THROTTLED,
        },
    )
    def post(self, request, entry_id):
        selectors.waiting_list_entry(entry_id=entry_id)  # 404 before looking at the body
        serializer = OfferTakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = offers.offer_take(entry_id=entry_id, **serializer.validated_data)
        purchase = selectors.purchase_detail(purchase_id=purchase.pk)
        location = request.build_absolute_uri(reverse("purchase-status", args=[purchase.pk]))
        return Response(
            PurchaseDetailSerializer(purchase).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location, "Retry-After": "1"},
        )
