"""The optional photo of goods received: kept re-encoded (no metadata, at most 1280 px), read by
whoever may read the consignment, and a bad photo refuses the receipt before anything is recorded."""

import base64
import io

from PIL import Image

from tests.delivery.conftest import coordinator, create_point
from tests.delivery.test_consignments import apply, closed_cycle, consignment_of


def phone_photo(side: int = 3000) -> str:
    """A big JPEG carrying metadata (a camera's EXIF with where it was taken)."""
    image = Image.new("RGB", (side, side * 3 // 4), (120, 160, 60))
    exif = Image.Exif()
    exif[0x010F] = "CamaraDelTelefono"  # Make
    exif[0x8825] = {1: "S", 2: (16.0, 30.0, 0.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", quality=60, exif=exif)
    return base64.b64encode(out.getvalue()).decode()


LINES = [{"product_id": 101, "received_quantity": "10", "rejected_quantity": "2", "reject_reason": "Plagas o insectos"},
         {"product_id": 102, "received_quantity": "2"}]


async def test_the_photo_is_kept_without_metadata_and_read_by_the_producer_not_by_another(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina = await consignment_of(client, keys, 11)
    r = await client.post(f"/consignments/{sabina['id']}/receive", headers=coordinator(keys),
                          json={"lines": LINES, "photo": phone_photo()})
    assert r.status_code == 200, r.text
    assert r.json()["has_photo"] is True
    assert (await consignment_of(client, keys, 11))["has_photo"] is True
    assert (await consignment_of(client, keys, 12))["has_photo"] is False

    mine = await client.get(f"/consignments/{sabina['id']}/photo", headers=keys.headers("producer", producer_id=11))
    assert mine.status_code == 200 and mine.headers["content-type"] == "image/jpeg"
    kept = Image.open(io.BytesIO(mine.content))
    assert max(kept.size) == 1280 and not kept.getexif()  # smaller, and where it was taken is gone
    other = await client.get(f"/consignments/{sabina['id']}/photo", headers=keys.headers("producer", producer_id=12))
    assert other.status_code == 403
    juan = await consignment_of(client, keys, 12)
    none = await client.get(f"/consignments/{juan['id']}/photo", headers=coordinator(keys))
    assert none.status_code == 404 and none.json()["error"]["code"] == "photo_not_found"


async def test_a_bad_photo_refuses_the_receipt_and_records_nothing(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina = await consignment_of(client, keys, 11)
    url = f"/consignments/{sabina['id']}/receive"
    for photo, code in ((base64.b64encode(b"GIF89a not a photo").decode(), "invalid_photo"),
                        ("%%% not base64", "invalid_photo")):
        r = await client.post(url, headers=coordinator(keys), json={"lines": LINES, "photo": photo})
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    assert (await consignment_of(client, keys, 11))["status"] == "pending"
    r = await client.post(url, headers=coordinator(keys), json={"lines": LINES})  # without a photo: as before
    assert r.status_code == 200 and r.json()["has_photo"] is False
