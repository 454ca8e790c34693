"""Demo accounts for the demo world (`make demo`): deterministic, and loading twice changes nothing.

Every demo account has the password `demo1234` (see gateway/README.md for the list). Producer and
organization accounts are linked to the first producers and organizations of the world, so their
tokens carry the same ids the catalog loads.
"""

from dataclasses import dataclass

from sqlalchemy import select

from gateway.accounts import hash_password, make_password_hasher, normalize_phone
from gateway.models import Account
from services.common.auth import Role

DEMO_PASSWORD = "demo1234"
DEMO_DOMAIN = "demo.mercadocorto.bo"
LA_PAZ = "020101"
PRODUCER_ACCOUNTS = 10
ORGANIZATION_ACCOUNTS = 5
CONSUMERS = [("Ana Quispe Mamani", "+591 79000001"), ("Carla Rojas Vargas", "+591 79000002"),
             ("Luis Fernández Choque", "+591 79000003"), ("Sonia Condori Apaza", "+591 79000004"),
             ("Diego Gutiérrez Flores", "+591 79000005")]


@dataclass(frozen=True)
class DemoAccount:
    email: str
    name: str
    role: Role
    phone: str | None = None
    producer_id: int | None = None
    organization_id: int | None = None
    municipality_code: str | None = None
    financier_id: int | None = None


def demo_accounts(world) -> list[DemoAccount]:
    """The demo accounts for `world`, always in the same order with the same values."""
    la_paz = next((m for m in world.municipalities if m.code == LA_PAZ), world.municipalities[0])
    accounts = [
        DemoAccount(f"admin@{DEMO_DOMAIN}", "Administración Mercado Corto", Role.admin),
        DemoAccount(f"coordinacion@{DEMO_DOMAIN}", "Coordinación de ciclos La Paz", Role.coordinator),
        DemoAccount(f"municipio.lapaz@{DEMO_DOMAIN}", f"Gobierno Autónomo Municipal de {la_paz.name}",
                    Role.municipality, municipality_code=la_paz.code),
        DemoAccount(f"financiera@{DEMO_DOMAIN}", "Fondo de Desarrollo Productivo (demo)", Role.financier,
                    financier_id=1),
    ]
    accounts += [DemoAccount(f"consumidor{i}@{DEMO_DOMAIN}", name, Role.consumer, phone=phone)
                 for i, (name, phone) in enumerate(CONSUMERS, start=1)]
    accounts += [DemoAccount(f"productor{p.id}@{DEMO_DOMAIN}", p.name, Role.producer, phone=p.phone,
                             producer_id=p.id, organization_id=p.organization_id,
                             municipality_code=p.municipality_code)
                 for p in world.producers[:PRODUCER_ACCOUNTS]]
    accounts += [DemoAccount(f"organizacion{o.id}@{DEMO_DOMAIN}", o.name, Role.organization,
                             phone=getattr(o, "phone", None), organization_id=o.id,
                             municipality_code=getattr(o, "municipality_code", None))
                 for o in world.organizations[:ORGANIZATION_ACCOUNTS]]
    return accounts


async def load_demo(db, world, *, password: str = DEMO_PASSWORD) -> dict[str, int]:
    """Create the demo accounts that are missing (matched by e-mail); existing ones are left alone.

    A phone number already taken (the world's random numbers may collide) is left off the later
    account, which still logs in by e-mail.
    """
    wanted = demo_accounts(world)
    async with db.session() as session:
        rows = (await session.execute(select(Account.email, Account.phone))).all()
        emails = {email for email, _ in rows if email}
        phones = {phone for _, phone in rows if phone}
        missing = [a for a in wanted if a.email not in emails]
        if missing:
            # one hash for every demo account: they share the password, and Argon2 is slow on purpose
            password_hash = await hash_password(hasher=make_password_hasher(time_cost=3, memory_kib=64 * 1024,
                                                                            parallelism=4), password=password)
        for spec in missing:
            phone = normalize_phone(spec.phone) if spec.phone else None
            if phone in phones:
                phone = None
            elif phone:
                phones.add(phone)
            session.add(Account(email=spec.email, phone=phone, name=spec.name, role=spec.role.value,
                                password_hash=password_hash, producer_id=spec.producer_id,
                                organization_id=spec.organization_id, municipality_code=spec.municipality_code,
                                financier_id=spec.financier_id))
    return {"created": len(missing), "existing": len(wanted) - len(missing)}
