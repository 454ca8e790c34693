"""Photos people upload from a phone (a product, goods received at a point, a pickup QR): checked to
be a real JPEG, PNG or WebP within a size and a pixel count before anything decodes them whole, and
re-encoded without metadata (no GPS of a farm or a house leaks).
"""

import io
import warnings
from typing import TYPE_CHECKING

from services.common.errors import DomainError, InvalidInput

if TYPE_CHECKING:  # Pillow loads with the first photo: most requests of a process never see one
    from PIL import Image

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
MAX_PIXELS = 40_000_000


class PhotoTooLarge(DomainError):
    status, code = 413, "photo_too_large"


def open_photo(data: bytes, *, max_bytes: int) -> "tuple[Image.Image, str]":
    """The decoded image and its format ("JPEG", "PNG", "WEBP"), or a 4xx saying what is wrong:
    `photo_too_large`, `unsupported_photo_format`, `invalid_photo` (details `reason`: "empty",
    "pixels" or "unreadable")."""
    if len(data) > max_bytes:
        raise PhotoTooLarge(f"the photo is {len(data) // 1024} KB; the limit is {max_bytes // 1024} KB",
                            details={"limit_bytes": max_bytes})
    if not data:
        raise InvalidInput("the photo file is empty", code="invalid_photo", details={"reason": "empty"})
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                if kind not in FORMATS:
                    raise InvalidInput(f"photos must be JPEG, PNG or WebP, not {kind}", code="unsupported_photo_format",
                                       details={"accepted": ["image/jpeg", "image/png", "image/webp"]})
                if probe.width * probe.height > MAX_PIXELS:
                    raise InvalidInput("the photo has too many pixels", code="invalid_photo",
                                       details={"reason": "pixels"})
                probe.verify()
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                return img.copy(), kind
    except DomainError:
        raise
    except Exception:  # not an image, truncated, a bomb, or a crafted file failing a decoder any other way
        raise InvalidInput("the file is not a readable JPEG, PNG or WebP image", code="invalid_photo",
                           details={"reason": "unreadable"}) from None


def as_jpeg(image: "Image.Image", *, max_side: int, quality: int = 75) -> bytes:
    """The image at most `max_side` pixels wide and high, as a JPEG without metadata (transparency
    on white)."""
    image = image.copy()
    image.thumbnail((max_side, max_side))
    if image.mode not in ("RGB", "L"):
        from PIL import Image

        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()
