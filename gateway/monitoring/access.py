"""Who may see which territory in monitoring.

- municipality accounts: only their own municipality (the code in their token); asking for another
  municipality, a department or the whole country is refused (403);
- coordinators and admins: any municipality, any department, or all of them;
- everyone else: no access (403).
"""

from dataclasses import dataclass
from datetime import date

from services.common.auth import Principal, Role
from services.common.errors import Forbidden, InvalidInput

MONITORING_ROLES = (Role.municipality, Role.coordinator, Role.admin)


@dataclass(frozen=True)
class Scope:
    municipality: str | None = None
    department: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    @property
    def label(self) -> str:
        if self.municipality:
            return f"municipio {self.municipality}"
        if self.department:
            return f"departamento {self.department}"
        return "todos los municipios"

    def as_dict(self) -> dict:
        return {"municipality": self.municipality, "department": self.department,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None}


def resolve_scope(principal: Principal, *, municipality: str | None, department: str | None,
                  date_from: date | None, date_to: date | None) -> Scope:
    """The territory and period the caller asked for, after checking they may see it."""
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("the period is reversed: 'from' must be on or before 'to'", code="invalid_period",
                           details={"from": date_from.isoformat(), "to": date_to.isoformat()})
    if municipality and department:
        raise InvalidInput("ask for a municipality or a department, not both", code="invalid_scope")
    if not principal.has_role(*MONITORING_ROLES):
        raise Forbidden("monitoring is for municipalities, coordinators and admins", code="role_required")
    if principal.role == Role.municipality:
        own = principal.municipality_code
        if not own:
            raise Forbidden("this municipality account is not linked to a municipality; ask an admin",
                            code="municipality_unlinked")
        if department or (municipality and municipality != own):
            raise Forbidden(f"a municipality account sees only its own territory ({own})",
                            code="outside_territory", details={"municipality": own})
        municipality = own
    return Scope(municipality=municipality, department=department, date_from=date_from, date_to=date_to)
