"""The pickup QR read back from a photo (phones without BarcodeDetector), and the cart cookie that
now also holds agrobolsas: no service needed."""

import io
from decimal import Decimal

import pytest
import qrcode
from PIL import Image

from gateway.web import views
from gateway.web.pickup_qr import MAX_BYTES, PickupQR, UnreadableQR, decode_photo, parse, payload


def photo(text: str, *, fmt: str = "JPEG", side: int = 1200) -> bytes:
    """A QR as a phone would photograph it: on a bigger grey page, as a JPEG."""
    page = Image.new("RGB", (side, side), (200, 200, 190))
    code = qrcode.make(text, border=4, box_size=10).get_image().convert("RGB")
    page.paste(code, ((side - code.width) // 2, (side - code.height) // 3))
    out = io.BytesIO()
    page.save(out, fmt)
    return out.getvalue()


def test_a_photo_of_the_order_page_qr_gives_the_order_and_its_code():
    assert decode_photo(photo(payload(42, "K7Q2PX9M"))) == PickupQR("42", "K7Q2PX9M")


@pytest.mark.parametrize("data, said", [
    (b"", "Elija o tome una foto"),
    (b"not an image at all", "no es una foto"),
    (photo("https://evil.example/?x=1"), "no es de un pedido de Mercado Corto"),
    (photo(payload(42, "K7Q2PX9M"))[:400], "no es una foto"),  # cut short on a bad line
])
def test_what_is_not_a_pickup_qr_is_refused_saying_what_to_do(data, said):
    with pytest.raises(UnreadableQR, match=said):
        decode_photo(data)


def test_a_photo_without_a_qr_and_a_huge_file_are_refused():
    blank = io.BytesIO()
    Image.new("RGB", (800, 600), (255, 255, 255)).save(blank, "PNG")
    with pytest.raises(UnreadableQR, match="No se encontró un código QR"):
        decode_photo(blank.getvalue())
    with pytest.raises(UnreadableQR, match="demasiado grande"):
        decode_photo(b"\xff" * (MAX_BYTES + 1))


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    bomb = io.BytesIO()
    Image.new("1", (8000, 8000)).save(bomb, "PNG")  # 64 M pixels in a few KB
    with pytest.raises(UnreadableQR, match="demasiados píxeles"):
        decode_photo(bomb.getvalue())


@pytest.mark.parametrize("text", ["MC-RECOJO:..:ABCD1234", "MC-RECOJO:42:abc", "42:ABCD1234", "MC-RECOJO:4 2:AB12"])
def test_only_our_payload_is_read(text):
    with pytest.raises(UnreadableQR):
        parse(text)


def test_cart_cookie_keeps_agrobolsas_beside_products():
    raw = views.write_cart({7: Decimal("2.5")}, {3: 2})
    assert raw == "7:2.5|b3:2"
    assert views.read_cart(raw) == {7: Decimal("2.5")}
    assert views.read_baskets(raw + "|b0:1|b4:0|b5:101|bx:1|b6:1.5|b8:3") == {3: 2, 8: 3}
    assert views.read_cart_keys("a1.b2.<script>." + ".".join(f"k{i}" for i in range(40)))[-1] == "k39"
    assert len(views.read_cart_keys(".".join(f"k{i}" for i in range(40)))) == views.MAX_CART_KEYS


def test_cart_additions_add_and_the_cart_page_sets():
    cart, picks = {7: Decimal("1")}, {3: 1}
    views.put_in_cart(cart, picks, product_id=7, basket_id=None, quantity=Decimal("1.5"), replace=False)
    views.put_in_cart(cart, picks, product_id=None, basket_id=3, quantity=Decimal(2), replace=False)
    assert cart == {7: Decimal("2.5")} and picks == {3: 3}
    views.put_in_cart(cart, picks, product_id=None, basket_id=3, quantity=Decimal(0), replace=True)
    views.put_in_cart(cart, picks, product_id=7, basket_id=None, quantity=Decimal(4), replace=True)
    assert cart == {7: Decimal(4)} and picks == {}
    assert views.cart_quantity("1,5") == Decimal("1.5") and views.cart_quantity("1,5", whole=True) is None
    assert [views.cart_quantity(t) for t in ("-1", "NaN", "1e9", "mucho")] == [None] * 4
