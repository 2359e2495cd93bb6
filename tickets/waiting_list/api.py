"""The waiting list's API: ask to join a sold-out ticket's line, confirm the
entry from the e-mailed link, follow it, buy the offered seats, decline, leave.
Rules live in tickets/waiting_list/services.py and offers.py. The entry's id is
its holder's secret, as a purchase's is, and only the address's mailbox ever
sees it: the join answers the caller nothing about the entry."""

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
    WaitingListJoinAcceptedSerializer,
    WaitingListJoinSerializer,
)


def entry_response(entry: WaitingListEntry, *, status_code: int = status.HTTP_200_OK) -> Response:
    position = selectors.waiting_position(entry)
    body = WaitingListEntrySerializer(entry, context={"position": position}).data
    return Response(body, status=status_code)


# A join answers this, and only this, whatever the address's state.
JOIN_ACCEPTED = {"detail": "Check your e-mail: the link in it confirms your place in line."}


class WaitingListJoinApi(APIView):
    throttle_scope = "waiting_list_join"

    @extend_schema(
        description=(
            "Asks to join a sold-out ticket's waiting list for whoever reads the e-mail"
            " address given. The answer is 202 with the same body whatever the address's"
            " state (new, unconfirmed, already waiting, or sent enough e-mails for now):"
            " it carries no entry id and no place, and never tells whether the address"
            " waits. The link to the entry goes to the address by e-mail; the entry holds"
            " a place only once that link confirms it (`confirm/`), and its place counts"
            " from then. A join for an address that has an active entry of the ticket"
            " makes nothing new and e-mails that entry's link again. Join e-mails are"
            " capped per address (silently) and per client (429). When seats come back"
            " they are offered to the first confirmed entries that fit, by e-mail, for"
            " WAITING_LIST_OFFER_SECONDS."
        ),
        request=WaitingListJoinSerializer,
        responses={
            202: WaitingListJoinAcceptedSerializer,
            400: invalid("Invalid input, or the ticket is not on sale"),
            404: error("No such ticket address (the ticket id is not a number)"),
            409: error("Seats are still on sale (`seats_on_sale`): buy instead"),
            429: error(
                "Too many requests, too many join e-mails asked for from this client"
                " (`waiting_list_mails_capped`), or as many seats waited for from this"
                " client as allowed (`waiting_list_cap_reached`); see Retry-After"
            ),
        },
    )
    def post(self, request, ticket_id):
        serializer = WaitingListJoinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.waiting_list_join(
            ticket_id=ticket_id, client_address=client_address(request), **serializer.validated_data
        )
        body = WaitingListJoinAcceptedSerializer(JOIN_ACCEPTED).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class WaitingListConfirmApi(APIView):
    throttle_scope = "waiting_list_change"

    @extend_schema(
        description=(
            "Confirms the entry from the link e-mailed to its address: it takes its place"
            " in line, counted from now, and may be offered seats kept for the line at"
            " once. Confirming again answers the entry as it is."
        ),
        request=None,
        responses={
            200: WaitingListEntrySerializer,
            404: NOT_FOUND,
            409: error(
                "The seats it wants are on sale (`seats_on_sale`): buy instead; the entry"
                " stays unconfirmed"
            ),
            429: THROTTLED,
        },
    )
    def post(self, request, entry_id):
        return entry_response(services.waiting_list_confirm(entry_id=entry_id))


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
