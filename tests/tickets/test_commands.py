import json
from io import StringIO

import pytest
from django.core.management import call_command

from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    first = list(Ticket.objects.values_list("name", "available_quantity"))
    call_command("seed_demo", stdout=StringIO())
    assert list(Ticket.objects.values_list("name", "available_quantity")) == first
    dance = Ticket.objects.get(name="Traditional Dance Performance")
    assert str(dance.price) == "80.00"


@pytest.mark.django_db(transaction=True)
def test_test_ticket_purchase_runs_the_real_pipeline_and_prints_json(worker):
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("test_ticket_purchase", "--quantity", "2", stdout=out, stderr=StringIO())
    purchase = json.loads(out.getvalue())
    assert purchase["ticket"] == "Traditional Dance Performance"
    assert (purchase["status"], purchase["payment_status"]) == ("completed", "completed")
    assert purchase["total_amount"] == "160.00" and len(purchase["ticket_codes"]) == 2
