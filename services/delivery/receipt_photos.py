"""The optional photo taken when a producer's goods are received at a point: checked and re-encoded
(services/common/images.py), kept beside the consignment, read by whoever may read the consignment
(the producer sees why a line was rejected)."""

import base64
import binascii

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import InvalidInput, NotFound
from services.common.images import as_jpeg, open_photo
from services.delivery.models import ConsignmentPhoto

MAX_BYTES = 1_000_000  # what arrives (the page sends it already downscaled)
MAX_SIDE = 1280  # what is kept


def cleaned(photo_base64: str) -> bytes:
    """The photo as a JPEG without metadata, or a 4xx saying what is wrong."""
    try:
        data = base64.b64decode(photo_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("photo must be base64", code="invalid_photo", details={"reason": "unreadable"}) from None
    image, _ = open_photo(data, max_bytes=MAX_BYTES)
    return as_jpeg(image, max_side=MAX_SIDE)


def keep(session: AsyncSession, *, consignment_id: int, data: bytes, taken_by: int | None) -> None:
    session.add(ConsignmentPhoto(consignment_id=consignment_id, data=data, taken_by=taken_by))


async def with_photo(session: AsyncSession, consignment_ids: list[int]) -> set[int]:
    if not consignment_ids:
        return set()
    rows = await session.execute(select(ConsignmentPhoto.consignment_id)
                                 .where(ConsignmentPhoto.consignment_id.in_(consignment_ids)))
    return set(rows.scalars())


async def read(session: AsyncSession, consignment_id: int) -> ConsignmentPhoto:
    photo = await session.get(ConsignmentPhoto, consignment_id)
    if photo is None:
        raise NotFound(f"consignment {consignment_id} has no photo", code="photo_not_found")
    return photo
