"""The sold-out waiting list: joining and leaving (services), offers of seats
that come back (offers), and its api, serializers and admin."""

# The page a waiting entry's e-mails link to: buy the offered seats, decline,
# leave. The product owns its address; the storefront, a floor above, serves
# its page there (storefront/urls.py mounts it on this route).
ENTRY_PAGE_ROUTE = "waiting-list/<uuid:entry_id>/"
