"""QR images of ticket codes, for the e-mail and the holder's download.

The QR holds the bare code (`TKT-...`): a door scanner reads it and the staff
app posts it to the redeem endpoint. Error correction M at least (segno raises
it for free when the symbol has room) survives a cracked phone screen.
"""

import functools
import io

import segno

SCALE = 8  # pixels per module: a version-1 code is 232 px square with the border
BORDER = 4  # the quiet zone the QR standard asks for


@functools.lru_cache(maxsize=512)
def _qr(code: str) -> segno.QRCode:
    # Cached: the e-mail asks for a code's size and then its image.
    return segno.make_qr(code, error="m")


def qr_pixels(code: str, *, scale: int = SCALE) -> int:
    """The width (and height) of the code's image, quiet zone included."""
    width, _ = _qr(code).symbol_size(scale=scale, border=BORDER)
    return width


def qr_png(code: str, *, scale: int = SCALE) -> bytes:
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="png", scale=scale, border=BORDER)
    return buffer.getvalue()


def qr_svg(code: str, *, scale: int = SCALE) -> bytes:
    buffer = io.BytesIO()
    _qr(code).save(
        buffer, kind="svg", scale=scale, border=BORDER, xmldecl=False, title=code, svgclass=None
    )
    return buffer.getvalue()
