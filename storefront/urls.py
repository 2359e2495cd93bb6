from django.urls import path

from tickets import storefront

urlpatterns = [
    path("", storefront.event_list, name="storefront-events"),
    path("events/<int:ticket_id>/", storefront.event_detail, name="storefront-event"),
    path("purchases/<uuid:purchase_id>/", storefront.purchase_page, name="storefront-purchase"),
    path(
        "waiting-list/<uuid:entry_id>/",
        storefront.waiting_entry_page,
        name="storefront-waiting-entry",
    ),
]
