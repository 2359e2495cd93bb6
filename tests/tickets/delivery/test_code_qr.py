"""The holder of a purchase id can fetch each of its codes as a QR image."""

import png
import pytest
import zxingcpp

from tests.factories import PurchaseFactory
from tickets.codes import code_generate
from tickets.delivery.qr import EMAIL_BORDER, EMAIL_SCALE, qr_pixels, qr_png
from tickets.models import TicketPurchase
from tickets.sale.payment import purchase_process

pytestmark = pytest.mark.django_db


def confirmed_purchase(**overrides) -> TicketPurchase:
    purchase = PurchaseFactory(**overrides)
    return purchase_process(purchase_id=purchase.pk)


def qr_url(purchase_id, code: str, kind: str) -> str:
    return f"/api/tickets/purchase/{purchase_id}/codes/{code}/qr.{kind}"


def decode_png(data: bytes) -> list[str]:
    width, height, pixels, _ = png.Reader(bytes=data).asRGB8()
    grey = bytearray()
    for row in pixels:
        grey.extend(row[0::3])
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(memoryview(bytes(grey)).cast("B", (height, width)))
    ]


def test_every_code_has_a_png_that_scans_back_to_it(api_client):
    purchase = confirmed_purchase(quantity=2)
    for code in purchase.codes.values_list("code", flat=True):
        response = api_client.get(qr_url(purchase.pk, code, "png"))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert "private" in response["Cache-Control"]
        assert decode_png(response.content) == [code]


def test_the_svg_is_an_svg_image_of_the_code(api_client):
    purchase = confirmed_purchase(quantity=1)
    code = purchase.codes.get().code
    response = api_client.get(qr_url(purchase.pk, code, "svg"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg ")
    assert f"<title>{code}</title>".encode() in response.content


def test_a_client_that_accepts_only_images_still_gets_the_image(api_client):
    purchase = confirmed_purchase(quantity=1)
    code = purchase.codes.get().code
    response = api_client.get(qr_url(purchase.pk, code, "png"), HTTP_ACCEPT="image/png")
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


def test_a_code_typed_in_lower_case_is_found(api_client):
    purchase = confirmed_purchase(quantity=1)
    code = purchase.codes.get().code
    assert api_client.get(qr_url(purchase.pk, code.lower(), "svg")).status_code == 200


@pytest.mark.parametrize("kind", ["svg", "png"])
def test_a_code_of_another_purchase_or_an_unknown_code_is_404_json(api_client, kind):
    mine = confirmed_purchase(quantity=1)
    other = confirmed_purchase(quantity=1)
    other_code = other.codes.get().code
    for url in (
        qr_url(mine.pk, other_code, kind),
        qr_url(mine.pk, "TKT-00000000", kind),
        qr_url("00000000-0000-0000-0000-000000000000", other_code, kind),
    ):
        response = api_client.get(url, HTTP_ACCEPT="image/*")
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_the_small_email_image_of_any_code_scans_back_to_it():
    # One fixed mask pattern for every code (tickets/delivery/qr.py): it must scan
    # whatever the code.
    for _ in range(100):
        code = code_generate()
        data = qr_png(code, scale=EMAIL_SCALE, border=EMAIL_BORDER)
        width, height, _, _ = png.Reader(bytes=data).read()
        assert width == height == qr_pixels(code, scale=EMAIL_SCALE, border=EMAIL_BORDER) < 100
        assert decode_png(data) == [code]


def test_the_download_is_large_with_the_full_quiet_zone():
    code = code_generate()
    width, height, _, _ = png.Reader(bytes=qr_png(code)).read()
    assert width == height == qr_pixels(code) == (21 + 2 * 4) * 8
