"""Calls from other services only."""


from fastapi import APIRouter

from services.common.app import Session
from services.common.auth import ServiceCaller
from services.orders import cycles
from services.orders.routes.deps import CyclePath

router = APIRouter()


@router.get("/internal/cycles/{cycle_id}/owner", tags=["internal"],
            summary="Who coordinates a cycle and which points it serves (delivery's access rules, the gateway's notices)")
async def cycle_owner(cycle_id: CyclePath, session: Session, _: ServiceCaller):
    cycle = await cycles.load_cycle(session=session, cycle_id=cycle_id)
    return {"cycle_id": cycle.id, "name": cycle.name, "coordinator_account_id": cycle.coordinator_account_id,
            "delivery_point_ids": list(cycle.point_ids), "status": cycle.status}
