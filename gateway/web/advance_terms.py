"""The producer accepts the terms of an advance policy version from her page, before she asks for
her first advance under it (the offer and its terms are shown by templates/advance_terms.html)."""

from urllib.parse import quote

from fastapi import APIRouter, Depends

from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web
from gateway.web.shop import redirect

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])


@router.post("/productor/condiciones/{policy_id}")
async def accept_terms(web: Web, policy_id: int):
    principal = web.require("producer")
    try:
        done = await web.call("POST", f"/api/payments/advance-policies/{policy_id}/acceptances",
                              json={"producer_id": principal.producer_id})
    except UpstreamError as exc:
        return redirect("/productor?error=" + quote(exc.message), web)
    return redirect("/productor?aviso=" + quote(f"Condiciones aceptadas (versión {done['policy_version']}, costo "
                                                f"{done['cost']}). Ya puede pedir su adelanto."), web)
