from django.urls import path

from project.lean_door import lean_door
from tickets.door import api as door
from tickets.refunds import api as refunds
from tickets.sale import api as sale
from tickets.waiting_list import api as waiting_list

urlpatterns = [
    path("", sale.TicketListApi.as_view(), name="ticket-list"),
    path("<int:pk>/", sale.TicketDetailApi.as_view(), name="ticket-detail"),
    # The two hot doors: plain Django for anonymous JSON, DRF for the rest
    # (project/lean_door.py).
    path(
        "purchase/direct/",
        lean_door(sale.PurchaseCreateApi, sale.purchase_create_fast, methods=("POST",)),
        name="purchase-create",
    ),
    path(
        "<int:ticket_id>/waiting-list/",
        waiting_list.WaitingListJoinApi.as_view(),
        name="waiting-list-join",
    ),
    path(
        "waiting-list/<uuid:entry_id>/",
        waiting_list.WaitingListEntryApi.as_view(),
        name="waiting-list-entry",
    ),
    path(
        "waiting-list/<uuid:entry_id>/confirm/",
        waiting_list.WaitingListConfirmApi.as_view(),
        name="waiting-list-confirm",
    ),
    path(
        "waiting-list/<uuid:entry_id>/purchase/",
        waiting_list.WaitingListPurchaseApi.as_view(),
        name="waiting-list-purchase",
    ),
    path(
        "waiting-list/<uuid:entry_id>/decline/",
        waiting_list.WaitingListDeclineApi.as_view(),
        name="waiting-list-decline",
    ),
    path(
        "waiting-list/<uuid:entry_id>/leave/",
        waiting_list.WaitingListLeaveApi.as_view(),
        name="waiting-list-leave",
    ),
    path(
        "purchase/<uuid:purchase_id>/status/",
        lean_door(sale.PurchaseStatusApi, sale.purchase_status_fast, methods=("GET",)),
        name="purchase-status",
    ),
    path(
        "purchase/<uuid:purchase_id>/complete/",
        sale.PurchaseCompleteApi.as_view(),
        name="purchase-complete",
    ),
    path(
        "purchase/<uuid:purchase_id>/cancel/",
        sale.PurchaseCancelApi.as_view(),
        name="purchase-cancel",
    ),
    path(
        "purchase/<uuid:purchase_id>/details/",
        sale.PurchaseDetailApi.as_view(),
        name="purchase-details",
    ),
    path(
        "purchase/<uuid:purchase_id>/simulate-payment/",
        sale.PurchaseSimulatePaymentApi.as_view(),
        name="purchase-simulate-payment",
    ),
    path("purchases/user/", sale.UserPurchasesApi.as_view(), name="purchases-user"),
    path("purchases/debug/", sale.PurchasesDebugApi.as_view(), name="purchases-debug"),
    path(
        "purchase/<uuid:purchase_id>/codes/<str:code>/qr.svg",
        door.CodeQrSvgApi.as_view(),
        name="code-qr-svg",
    ),
    path(
        "purchase/<uuid:purchase_id>/codes/<str:code>/qr.png",
        door.CodeQrPngApi.as_view(),
        name="code-qr-png",
    ),
    path("codes/<str:code>/redeem/", door.CodeRedeemApi.as_view(), name="code-redeem"),
    path(
        "purchase/<uuid:purchase_id>/refund/",
        refunds.PurchaseRefundApi.as_view(),
        name="purchase-refund",
    ),
]
