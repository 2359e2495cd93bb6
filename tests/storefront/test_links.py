"""The waiting list's e-mails link to a page of the storefront, a floor above
the product: the product owns the address (tickets.waiting_list.ENTRY_PAGE_ROUTE),
the storefront serves its page there."""

import uuid

from django.conf import settings
from django.urls import reverse

from tickets.models import WaitingListEntry
from tickets.waiting_list.services import offer_link


def test_the_link_in_the_e_mails_is_the_storefronts_entry_page():
    entry = WaitingListEntry(pk=uuid.uuid4())
    page = reverse("storefront-waiting-entry", args=[entry.pk])
    assert offer_link(entry) == f"{settings.SITE_URL}{page}"
