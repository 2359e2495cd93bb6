from django.urls import path

from storefront import views
from tickets.waiting_list import ENTRY_PAGE_ROUTE

urlpatterns = [
    path("", views.event_list, name="storefront-events"),
    path("events/<int:ticket_id>/", views.event_detail, name="storefront-event"),
    path("purchases/<uuid:purchase_id>/", views.purchase_page, name="storefront-purchase"),
    # The address the waiting list's e-mails link to is the product's; the page is ours.
    path(ENTRY_PAGE_ROUTE, views.waiting_entry_page, name="storefront-waiting-entry"),
]
