"""QR images of ticket codes, for the e-mail and the holder's download.

The QR holds the bare code (`TKT-...`): a door scanner reads it and the staff
app posts it to the redeem endpoint. Error correction M at least (segno raises
it for free when the symbol has room) survives a cracked phone screen.

The e-mail carries every code of every purchase, so its image is cheap: a
symbol is encoded once per code, with a fixed mask pattern (choosing the "best"
of eight costs four times the rest of the work, and every mask is a valid QR
that decoders read alike), and written as a tiny 1-bit PNG that the HTML shows
enlarged with width/height.
"""

import functools
import io
import struct
import zlib

import segno

SCALE = 8  # pixels per module of the download: a version-1 code is 232 px square
BORDER = 4  # the quiet zone the QR standard asks for

# The e-mail's image: 3 px per module and a 2-module quiet zone (the white of
# the message around it does the rest) is 75 px for a version-1 code; the HTML
# shows it EMAIL_ZOOM times larger.
EMAIL_SCALE = 3
EMAIL_BORDER = 2
EMAIL_ZOOM = 3

MASK = 0  # any of the eight is a valid symbol; a fixed one skips scoring them all

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@functools.lru_cache(maxsize=512)
def _qr(code: str) -> segno.QRCode:
    # Cached: the e-mail asks for a code's size and then its image.
    return segno.make_qr(code, error="m", mask=MASK)


def qr_pixels(code: str, *, scale: int = SCALE, border: int = BORDER) -> int:
    """The width (and height) of the code's image, quiet zone included."""
    width, _ = _qr(code).symbol_size(scale=scale, border=border)
    return width


def qr_png(code: str, *, scale: int = SCALE, border: int = BORDER) -> bytes:
    """A black-and-white PNG, one bit per pixel."""
    return _png_1bit(_qr(code).matrix, scale=scale, border=border)


def qr_svg(code: str, *, scale: int = SCALE) -> bytes:
    buffer = io.BytesIO()
    _qr(code).save(
        buffer, kind="svg", scale=scale, border=BORDER, xmldecl=False, title=code, svgclass=None
    )
    return buffer.getvalue()


def _png_1bit(matrix, *, scale: int, border: int) -> bytes:
    """Writes the module matrix as a greyscale PNG of bit depth 1 (0 is black).
    Each row of modules is packed once and repeated `scale` times: a few
    hundred microseconds where segno's general writer works pixel by pixel."""
    width = (len(matrix[0]) + 2 * border) * scale
    padding = "1" * (-width % 8)  # a row ends on a byte; the extra bits are ignored
    quiet = "1" * (border * scale)
    light, dark = "1" * scale, "0" * scale

    def scanline(bits: str) -> bytes:
        return b"\x00" + int(bits + padding, 2).to_bytes((width + 7) // 8, "big")

    blank = scanline("1" * width) * (border * scale)
    rows = [blank]
    for modules in matrix:
        bits = quiet + "".join(dark if module else light for module in modules) + quiet
        rows.append(scanline(bits) * scale)
    rows.append(blank)
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(b"".join(rows))),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
