"""Municipalities, organizations, producers and their certifications."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.catalog import certifications, memberships, registry
from services.catalog.models import LegalForm, MembershipStatus
from services.catalog.routes.deps import Paging
from services.catalog.schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    CertificationIn,
    CertificationOut,
    CertificationPatch,
    MembershipIn,
    MembershipOut,
    MunicipalityIn,
    MunicipalityOut,
    OrganizationIn,
    OrganizationOut,
    OrganizationPatch,
    ProducerIn,
    ProducerOut,
    ProducerPatch,
)
from services.common.app import Session
from services.common.auth import CurrentPrincipal, OptionalPrincipal
from services.common.pagination import Page

router = APIRouter(responses=ERROR_RESPONSES)
Code = Annotated[str, Path(pattern=r"^[0-9]{6}$", description="INE code")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
CodeQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}$")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/municipalities", response_model=Page[MunicipalityOut], tags=["places"])
async def list_municipalities(session: Session, paging: Paging,
                              department: Annotated[str | None, Query(max_length=60)] = None):
    items, cursor = await registry.list_municipalities(session=session, department=department, params=paging)
    return {"items": items, "next_cursor": cursor}


@router.post("/municipalities", response_model=MunicipalityOut, status_code=201, tags=["places"])
async def create_municipality(body: MunicipalityIn, session: Session, principal: CurrentPrincipal):
    return await registry.create_municipality(session=session, principal=principal, data=body)


@router.get("/municipalities/{code}", response_model=MunicipalityOut, tags=["places"])
async def get_municipality(code: Code, session: Session):
    return await registry.get_municipality(session=session, code=code)


@router.get("/organizations", response_model=Page[OrganizationOut], tags=["organizations"])
async def list_organizations(session: Session, paging: Paging, municipality: CodeQuery = None,
                             legal_form: LegalForm | None = None):
    items, cursor = await registry.list_organizations(
        session=session, municipality=municipality, legal_form=legal_form.value if legal_form else None,
        params=paging)
    return {"items": items, "next_cursor": cursor}


@router.post("/organizations", response_model=OrganizationOut, status_code=201, tags=["organizations"])
async def create_organization(body: OrganizationIn, session: Session, principal: CurrentPrincipal):
    return await registry.create_organization(session=session, principal=principal, data=body)


@router.get("/organizations/{organization_id}", response_model=OrganizationOut, tags=["organizations"])
async def get_organization(organization_id: IdPath, session: Session):
    return await registry.get_organization(session=session, organization_id=organization_id)


@router.patch("/organizations/{organization_id}", response_model=OrganizationOut, tags=["organizations"])
async def update_organization(organization_id: IdPath, body: OrganizationPatch, session: Session,
                              principal: CurrentPrincipal):
    return await registry.update_organization(session=session, principal=principal, organization_id=organization_id,
                                              changes=body.model_dump(mode="json", exclude_unset=True))


@router.get("/organizations/{organization_id}/certifications", response_model=list[CertificationOut],
            tags=["certifications"])
async def organization_certifications(organization_id: IdPath, session: Session):
    return await certifications.list_certifications(session=session, organization_id=organization_id)


@router.post("/organizations/{organization_id}/certifications", response_model=CertificationOut,
             status_code=201, tags=["certifications"])
async def certify_organization(organization_id: IdPath, body: CertificationIn, session: Session,
                               principal: CurrentPrincipal):
    return await certifications.add_certification(session=session, principal=principal, data=body,
                                                  organization_id=organization_id)


@router.get("/producers", response_model=Page[ProducerOut], tags=["producers"])
async def list_producers(session: Session, paging: Paging, principal: OptionalPrincipal,
                         municipality: CodeQuery = None, organization: IdQuery = None):
    items, cursor = await registry.list_producers(session=session, principal=principal, municipality=municipality,
                                                  organization=organization, params=paging)
    return {"items": items, "next_cursor": cursor}


@router.post("/producers", response_model=ProducerOut, status_code=201, tags=["producers"])
async def create_producer(body: ProducerIn, session: Session, principal: CurrentPrincipal):
    return await registry.create_producer(session=session, principal=principal, data=body)


@router.get("/producers/{producer_id}", response_model=ProducerOut, tags=["producers"])
async def get_producer(producer_id: IdPath, session: Session, principal: OptionalPrincipal):
    return await registry.get_producer(session=session, principal=principal, producer_id=producer_id)


@router.patch("/producers/{producer_id}", response_model=ProducerOut, tags=["producers"])
async def update_producer(producer_id: IdPath, body: ProducerPatch, session: Session, principal: CurrentPrincipal):
    return await registry.update_producer(session=session, principal=principal, producer_id=producer_id,
                                          changes=body.model_dump(mode="json", exclude_unset=True))


@router.get("/producers/{producer_id}/certifications", response_model=list[CertificationOut],
            tags=["certifications"])
async def producer_certifications(producer_id: IdPath, session: Session):
    return await certifications.list_certifications(session=session, producer_id=producer_id)


@router.post("/producers/{producer_id}/certifications", response_model=CertificationOut, status_code=201,
             tags=["certifications"])
async def certify_producer(producer_id: IdPath, body: CertificationIn, session: Session,
                           principal: CurrentPrincipal):
    return await certifications.add_certification(session=session, principal=principal, data=body,
                                                  producer_id=producer_id)


@router.patch("/certifications/{certification_id}", response_model=CertificationOut, tags=["certifications"])
async def change_certification(certification_id: IdPath, body: CertificationPatch, session: Session,
                               principal: CurrentPrincipal):
    changes = body.model_dump(exclude_unset=True)
    if changes.get("status") is not None:
        changes["status"] = changes["status"].value
    return await certifications.change_certification(session=session, principal=principal,
                                                     certification_id=certification_id, changes=changes)


@router.post("/producers/{producer_id}/memberships", response_model=MembershipOut, status_code=201,
             tags=["memberships"], summary="Ask to join an organization (it stays pending until the organization answers)")
async def request_membership(producer_id: IdPath, body: MembershipIn, session: Session, principal: CurrentPrincipal):
    return await memberships.request_membership(session=session, principal=principal, producer_id=producer_id,
                                                organization_id=body.organization_id)


@router.get("/producers/{producer_id}/memberships", response_model=list[MembershipOut], tags=["memberships"])
async def producer_memberships(producer_id: IdPath, session: Session, principal: CurrentPrincipal):
    return await memberships.list_for_producer(session=session, principal=principal, producer_id=producer_id)


@router.get("/organizations/{organization_id}/memberships", response_model=list[MembershipOut],
            tags=["memberships"], summary="An organization's membership requests (its own account, coordinators)")
async def organization_memberships(organization_id: IdPath, session: Session, principal: CurrentPrincipal,
                                   status: MembershipStatus | None = None):
    return await memberships.list_for_organization(session=session, principal=principal,
                                                   organization_id=organization_id, status=status)


@router.post("/memberships/{membership_id}/confirm", response_model=MembershipOut, tags=["memberships"],
             summary="Confirm a request to join (the organization's own account or an admin)")
async def confirm_membership(membership_id: IdPath, session: Session, principal: CurrentPrincipal):
    return await memberships.decide_membership(session=session, principal=principal, membership_id=membership_id,
                                               confirm=True)


@router.post("/memberships/{membership_id}/reject", response_model=MembershipOut, tags=["memberships"],
             summary="Turn down a request to join (the organization's own account or an admin)")
async def reject_membership(membership_id: IdPath, session: Session, principal: CurrentPrincipal):
    return await memberships.decide_membership(session=session, principal=principal, membership_id=membership_id,
                                               confirm=False)
