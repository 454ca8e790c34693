"""The pickup QR: what the consumer's order page draws and what the point's staff read back.

The QR carries the order and its code (`MC-RECOJO:<order id>:<code>`), so one scan says which
pickup to confirm. A phone whose browser has no BarcodeDetector sends a photo of the QR instead;
it is decoded here with zxing-cpp. The photo is checked before it is decoded (size, a real image,
a bounded number of pixels: `services.common.images`) and never stored.
"""

import re
from dataclasses import dataclass

from services.common.errors import DomainError
from services.common.images import PhotoTooLarge, open_photo

PREFIX = "MC-RECOJO"
PAYLOAD = re.compile(r"^MC-RECOJO:([A-Za-z0-9_.:-]{1,64}):([A-Z0-9]{4,32})$")
MAX_BYTES = 8 * 1024 * 1024  # a phone photo; more is not a QR worth decoding
DECODE_SIDE = 1600  # a QR is found as well on a downscaled photo, much faster


@dataclass(frozen=True)
class PickupQR:
    order_id: str
    code: str


class UnreadableQR(ValueError):
    """What to tell the person at the point (Spanish)."""


def payload(order_id: int | str, code: str) -> str:
    return f"{PREFIX}:{order_id}:{code}"


def parse(text: str) -> PickupQR:
    found = PAYLOAD.match((text or "").strip())
    if not found or found.group(1).strip(".") == "":
        raise UnreadableQR("Ese código QR no es de un pedido de Mercado Corto.")
    return PickupQR(order_id=found.group(1), code=found.group(2))


def decode_photo(data: bytes) -> PickupQR:
    """The pickup in a photo of its QR, or UnreadableQR saying what is wrong with the photo."""
    import zxingcpp

    if not data:
        raise UnreadableQR("Elija o tome una foto del código QR.")
    try:
        image, _ = open_photo(data, max_bytes=MAX_BYTES)
    except PhotoTooLarge:
        raise UnreadableQR("La foto es demasiado grande (máximo 8 MB).") from None
    except DomainError as exc:
        if (exc.details or {}).get("reason") == "pixels":
            raise UnreadableQR("La foto tiene demasiados píxeles; tómela de nuevo con menos resolución.") from None
        raise UnreadableQR("El archivo no es una foto (JPEG, PNG o WebP).") from None
    image = image.convert("L")
    image.thumbnail((DECODE_SIDE, DECODE_SIDE))
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    if not results:
        raise UnreadableQR("No se encontró un código QR en la foto; acérquese y tómela de nuevo con buena luz.")
    return parse(results[0].text)
