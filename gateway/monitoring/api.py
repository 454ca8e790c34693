"""`/api/monitoring/...`: supply, prices, deliveries, advances and the programme report for a
municipality, a department or the whole country, over a period; JSON or CSV; anonymised.

Access is decided in `gateway.monitoring.access`; the figures in `gateway.monitoring.figures`; the
data comes only from the services' aggregate endpoints (`gateway.monitoring.sources`).
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from gateway.monitoring.access import Scope, resolve_scope
from gateway.monitoring.csv_export import program_rows, report_rows, to_csv
from gateway.monitoring.figures import full_report, suppressed_for_municipalities
from gateway.monitoring.sources import gather
from services.common.auth import CurrentPrincipal, Principal
from services.common.disclosure import needs_suppression

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])

Municipality = Annotated[str | None, Query(description="INE code of a municipality, e.g. 020101",
                                          max_length=10, pattern=r"^\d{6}$")]
Department = Annotated[str | None, Query(description="department name, e.g. La Paz", max_length=60)]
From = Annotated[date | None, Query(alias="from", description="first day of the period (inclusive)")]
To = Annotated[date | None, Query(alias="to", description="last day of the period (inclusive)")]


async def build_report(request: Request, scope: Scope, principal: Principal) -> dict:
    """The report for this territory; a municipality reads it without groups of fewer than 3 producers.
    Training completion by gender (the gateway's own data) comes with it, small groups suppressed."""
    from gateway.training.api import completion_in

    sources = await gather(request, scope)
    report = full_report(sources, scope=scope.as_dict())
    report = suppressed_for_municipalities(report) if needs_suppression(principal) else report
    async with request.app.state.db.session() as session:
        report["training"] = await completion_in(request, session, scope)
    return report


async def build_program(request: Request, scope: Scope, principal: Principal) -> dict:
    return (await build_report(request, scope, principal))["program"]


def _csv_response(text: str, filename: str) -> Response:
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _file_stem(scope: Scope) -> str:
    where = scope.municipality or (scope.department or "todos").replace(" ", "_")
    return f"{where}_{scope.date_from or 'inicio'}_{scope.date_to or 'hoy'}"


@router.get("/report", summary="The whole monitoring report for a territory and period")
async def report(request: Request, principal: CurrentPrincipal, municipality: Municipality = None,
                 department: Department = None, date_from: From = None, date_to: To = None) -> dict:
    scope = resolve_scope(principal, municipality=municipality, department=department,
                          date_from=date_from, date_to=date_to)
    return await build_report(request, scope, principal)


@router.get("/report.csv", summary="The monitoring report as CSV (one figure per row)")
async def report_csv(request: Request, principal: CurrentPrincipal, municipality: Municipality = None,
                     department: Department = None, date_from: From = None, date_to: To = None) -> Response:
    scope = resolve_scope(principal, municipality=municipality, department=department,
                          date_from=date_from, date_to=date_to)
    data = await build_report(request, scope, principal)
    return _csv_response(to_csv(report_rows(data)), f"monitoreo_{_file_stem(scope)}.csv")


@router.get("/municipalities/{code}/supply", summary="The monitoring report of one municipality")
async def municipality_supply(code: Annotated[str, Path(pattern=r"^\d{6}$")], request: Request,
                              principal: CurrentPrincipal, date_from: From = None, date_to: To = None) -> dict:
    scope = resolve_scope(principal, municipality=code, department=None, date_from=date_from, date_to=date_to)
    return await build_report(request, scope, principal)


@router.get("/program-report", summary="Programme report: reach, inclusion, volume and value sold")
async def program(request: Request, principal: CurrentPrincipal, municipality: Municipality = None,
                  department: Department = None, date_from: From = None, date_to: To = None) -> dict:
    scope = resolve_scope(principal, municipality=municipality, department=department,
                          date_from=date_from, date_to=date_to)
    report = await build_report(request, scope, principal)
    return {"scope": scope.as_dict(), **report["program"], "warnings": report["warnings"]}


@router.get("/program-report.csv", summary="Programme report as CSV")
async def program_csv(request: Request, principal: CurrentPrincipal, municipality: Municipality = None,
                      department: Department = None, date_from: From = None, date_to: To = None) -> Response:
    scope = resolve_scope(principal, municipality=municipality, department=department,
                          date_from=date_from, date_to=date_to)
    rows = program_rows(await build_program(request, scope, principal), scope.as_dict())
    return _csv_response(to_csv(rows), f"informe_programa_{_file_stem(scope)}.csv")
