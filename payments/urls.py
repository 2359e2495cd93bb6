from django.urls import path

from payments import api

urlpatterns = [
    path("destinations/", api.DestinationListApi.as_view(), name="destination-list"),
    path("bookings/", api.BookingCreateApi.as_view(), name="booking-create"),
    path("bookings/<uuid:booking_id>/", api.BookingDetailApi.as_view(), name="booking-detail"),
    path(
        "bookings/<uuid:booking_id>/status/",
        api.BookingStatusApi.as_view(),
        name="booking-status",
    ),
    path(
        "bookings/<uuid:booking_id>/cancel/",
        api.BookingCancelApi.as_view(),
        name="booking-cancel",
    ),
]
