"""Web forms refuse cross-site posts: a page on another site cannot add to a visitor's cart, log
her in or out, or act in her name, because it neither comes from our origin nor knows her token."""

import re

import pytest

from tests.gateway.conftest import running_gateway

OURS = "http://gateway"


def _token_in(html: str) -> str:
    found = re.findall(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every form carries the session's token"
    assert len(set(found)) == 1
    return found[0]


@pytest.fixture
async def visitor(migrated, keys):
    """A browser that opened our login page: it holds the token cookie and the form's token."""
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        page = await client.get("/ingresar")
        assert page.status_code == 200
        client.form_token = _token_in(page.text)
        yield client


def _add_to_cart(client, *, token: str | None, **headers):
    data = {"product_id": "7", "quantity": "2", "back": "/"}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/carrito", data=data, headers=headers)


async def test_a_form_from_our_own_page_goes_through(visitor):
    answer = await _add_to_cart(visitor, token=visitor.form_token, Origin=OURS)
    assert answer.status_code == 303
    assert "mc_cart=" in answer.headers["set-cookie"]


async def test_without_origin_our_own_referer_will_do(visitor):
    answer = await _add_to_cart(visitor, token=visitor.form_token, Referer=f"{OURS}/ingresar")
    assert answer.status_code == 303


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Referer": "https://evil.example/gateway"}, {}])
async def test_a_form_posted_from_another_site_is_refused(visitor, headers):
    answer = await _add_to_cart(visitor, token=visitor.form_token, **headers)
    assert answer.status_code == 403
    assert "mc_cart=" not in answer.headers.get("set-cookie", "")
    assert "recargue la página" in answer.text


@pytest.mark.parametrize("token", [None, "", "adivinado"])
async def test_a_form_without_the_sessions_token_is_refused(visitor, token):
    answer = await _add_to_cart(visitor, token=token, Origin=OURS)
    assert answer.status_code == 403


async def test_a_token_planted_before_login_is_useless_after_it(visitor):
    planted = visitor.form_token
    answer = await visitor.post("/ingresar", data={"login": "nadie@ejemplo.bo", "password": "x",
                                                   "csrf_token": planted}, headers={"Origin": OURS})
    assert answer.status_code in (400, 503)  # the form was heard (no such account); no token change then
    out = await visitor.post("/salir", data={"csrf_token": planted}, headers={"Origin": OURS})
    assert out.status_code == 303
    assert (await _add_to_cart(visitor, token=planted, Origin=OURS)).status_code == 403


async def test_logging_out_of_the_web_ends_the_session_not_only_the_cookies(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        r = await client.post("/api/auth/register", json={"email": "ana@ejemplo.bo", "password": "una clave larga",
                                                          "name": "Ana"})
        assert r.status_code == 201
        token = _token_in((await client.get("/ingresar")).text)
        r = await client.post("/ingresar", data={"login": "ana@ejemplo.bo", "password": "una clave larga",
                                                 "csrf_token": token}, headers={"Origin": OURS})
        assert r.status_code == 303
        refresh = client.cookies["mc_refresh"]  # what a thief copying the cookie would hold
        out = await client.post("/salir", data={"csrf_token": client.cookies["mc_csrf"]}, headers={"Origin": OURS})
        assert out.status_code == 303
        stolen = await client.post("/api/auth/refresh", json={"refresh_token": refresh})
        assert stolen.status_code == 401 and stolen.json()["error"]["code"] == "refresh_token_revoked"
