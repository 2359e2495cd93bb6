"""Reading QR codes back out of PNG images, the way a door scanner would."""

import png
import zxingcpp


def decode_qr(data: bytes) -> list[str]:
    """The texts of the QR codes in a PNG image."""
    width, height, pixels, _ = png.Reader(bytes=data).asRGB8()
    grey = bytearray()
    for row in pixels:
        grey.extend(row[0::3])
    image = memoryview(bytes(grey)).cast("B", (height, width))
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]
