"""`GET /api/admin/audit`: the consistency audit of the installation (admins only; it only reads)."""

from fastapi import APIRouter, Request

from gateway.api.auth import Admin
from gateway.audit import gateway_event_facts, run_audit
from gateway.monitoring.sources import clients

router = APIRouter(tags=["operations"])


@router.get("/api/admin/audit", summary="Cross-service invariants: each discrepancy with its ids (admin)")
async def audit(request: Request, _: Admin) -> dict:
    state = request.app.state
    return await run_audit(clients(request), await gateway_event_facts(state.db, state.settings))
