"""Demo destinations for `seed_demo`. Matched by name, so running it again
creates nothing new and leaves edited prices alone."""

from decimal import Decimal

from payments.models import Destination

DEMO_DESTINATIONS = [
    {
        "name": "Zanzibar",
        "country": "Tanzania",
        "region": "Zanzibar Archipelago",
        "description": "Stone Town's alleys, spice farms and white-sand beaches.",
        "price_per_guest": Decimal("250.00"),
    },
    {
        "name": "Serengeti",
        "country": "Tanzania",
        "region": "Mara",
        "description": "Three days on safari following the great migration.",
        "price_per_guest": Decimal("480.00"),
    },
    {
        "name": "Kilimanjaro",
        "country": "Tanzania",
        "region": "Kilimanjaro",
        "description": "The Marangu route to Uhuru Peak with guides and porters.",
        "price_per_guest": Decimal("1350.00"),
    },
    {
        "name": "Ngorongoro Crater",
        "country": "Tanzania",
        "region": "Arusha",
        "description": "A day in the crater, home to the Big Five.",
        "price_per_guest": Decimal("320.00"),
    },
]


def seed_destinations() -> int:
    created = 0
    for spec in DEMO_DESTINATIONS:
        _, was_created = Destination.objects.get_or_create(
            name=spec["name"], defaults={**spec, "currency": "USD"}
        )
        created += was_created
    return created
