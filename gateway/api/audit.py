"""`GET /api/admin/audit`: the consistency audit of the installation (admins only; it only reads)."""

from fastapi import APIRouter, Request

from gateway.api.auth import Admin
from gateway.audit import run_audit
from gateway.monitoring.sources import clients

router = APIRouter(tags=["operations"])


@router.get("/api/admin/audit", summary="Cross-service invariants: each discrepancy with its ids (admin)")
async def audit(request: Request, _: Admin) -> dict:
    return await run_audit(clients(request))
