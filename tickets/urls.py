from django.urls import path

from tickets import api, api_codes, api_refunds, api_waiting_list

urlpatterns = [
    path("", api.TicketListApi.as_view(), name="ticket-list"),
    path("<int:pk>/", api.TicketDetailApi.as_view(), name="ticket-detail"),
    path("purchase/direct/", api.PurchaseCreateApi.as_view(), name="purchase-create"),
    path(
        "<int:ticket_id>/waiting-list/",
        api_waiting_list.WaitingListJoinApi.as_view(),
        name="waiting-list-join",
    ),
    path(
        "waiting-list/<uuid:entry_id>/",
        api_waiting_list.WaitingListEntryApi.as_view(),
        name="waiting-list-entry",
    ),
    path(
        "waiting-list/<uuid:entry_id>/purchase/",
        api_waiting_list.WaitingListPurchaseApi.as_view(),
        name="waiting-list-purchase",
    ),
    path(
        "waiting-list/<uuid:entry_id>/decline/",
        api_waiting_list.WaitingListDeclineApi.as_view(),
        name="waiting-list-decline",
    ),
    path(
        "waiting-list/<uuid:entry_id>/leave/",
        api_waiting_list.WaitingListLeaveApi.as_view(),
        name="waiting-list-leave",
    ),
    path(
        "purchase/<uuid:purchase_id>/status/",
        api.PurchaseStatusApi.as_view(),
        name="purchase-status",
    ),
    path(
        "purchase/<uuid:purchase_id>/complete/",
        api.PurchaseCompleteApi.as_view(),
        name="purchase-complete",
    ),
    path(
        "purchase/<uuid:purchase_id>/cancel/",
        api.PurchaseCancelApi.as_view(),
        name="purchase-cancel",
    ),
    path(
        "purchase/<uuid:purchase_id>/details/",
        api.PurchaseDetailApi.as_view(),
        name="purchase-details",
    ),
    path(
        "purchase/<uuid:purchase_id>/simulate-payment/",
        api.PurchaseSimulatePaymentApi.as_view(),
        name="purchase-simulate-payment",
    ),
    path("purchases/user/", api.UserPurchasesApi.as_view(), name="purchases-user"),
    path("purchases/debug/", api.PurchasesDebugApi.as_view(), name="purchases-debug"),
    path(
        "purchase/<uuid:purchase_id>/codes/<str:code>/qr.svg",
        api_codes.CodeQrSvgApi.as_view(),
        name="code-qr-svg",
    ),
    path(
        "purchase/<uuid:purchase_id>/codes/<str:code>/qr.png",
        api_codes.CodeQrPngApi.as_view(),
        name="code-qr-png",
    ),
    path("codes/<str:code>/redeem/", api_codes.CodeRedeemApi.as_view(), name="code-redeem"),
    path(
        "purchase/<uuid:purchase_id>/refund/",
        api_refunds.PurchaseRefundApi.as_view(),
        name="purchase-refund",
    ),
]
