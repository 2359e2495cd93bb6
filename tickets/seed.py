"""Demo tickets for `seed_demo`. Matched by name, so running it again creates
nothing new and leaves sold inventory alone."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from tickets import inventory
from tickets.models import Ticket

DEMO_TICKETS = [
    {
        "name": "Traditional Dance Performance",
        "description": "An evening of traditional dance and live drumming.",
        "venue": "Cultural Village Amphitheatre",
        "destination_name": "Bagamoyo",
        "days_ahead": 30,
        "price": Decimal("80.00"),
        "quantity": 200,
    },
    {
        "name": "Guided Night Tour",
        "description": "A ranger-led walk through the old town after dark.",
        "venue": "Stone Town Gate",
        "destination_name": "Zanzibar",
        "days_ahead": 14,
        "price": Decimal("45.00"),
        "quantity": 40,
    },
    {
        "name": "Sunset Dhow Cruise",
        "description": "Two hours on a traditional dhow with dinner on board.",
        "venue": "Forodhani Pier",
        "destination_name": "Zanzibar",
        "days_ahead": 21,
        "price": Decimal("120.00"),
        "quantity": 25,
    },
]


def seed_tickets() -> int:
    created = 0
    for spec in DEMO_TICKETS:
        if Ticket.objects.filter(name=spec["name"]).exists():
            continue
        inventory.ticket_create(
            name=spec["name"],
            description=spec["description"],
            venue=spec["venue"],
            destination_name=spec["destination_name"],
            starts_at=timezone.now() + timedelta(days=spec["days_ahead"]),
            price=spec["price"],
            currency="USD",
            total_quantity=spec["quantity"],
        )
        created += 1
    return created
