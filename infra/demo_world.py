"""A deterministic, seeded demo world of Bolivian short food circuits.

Municipalities of metropolitan La Paz, Cochabamba and Santa Cruz and some rural ones (INE
department-province-section codes and coordinates), organizations of every legal form with the
products typical of them, producers (about 40 % women), products in Bolivian units, and delivery
points (ferias, tambos, mercados, puntos comunitarios). The same seed always gives the same world,
with stable ids, so each service can load its part idempotently.

`build_world(scale=True)` makes the benchmark sizes: 10k producers, 100k products.

The world's calendar is computed from "today" (`services.common.clock`, `MC_TODAY` moves it): the
open cycle delivers on the next day, at least two days ahead, on which all its points open; the
closed cycle delivered on the last such day before today. `check_calendar` refuses a world that
breaks that rule, so the demo consumer can order on any day of the week.
"""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from services.common import clock
from services.common.schedules import WEEKDAYS, closed_on, days_text, first_day_all_serve


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    province: str
    department: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    legal_form: str  # cooperativa | asociacion | oeca | coraca | empresa_comunitaria | otra
    nit: str
    legal_papers: tuple[str, ...]
    maturity: str  # embrionaria | en_consolidacion | consolidada
    value_chain_stage: str  # materia_prima | transformacion | cadena_completa
    municipality_code: str
    members: int
    women_members: int
    phone: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Producer:
    id: int
    name: str
    gender: str  # female | male
    phone: str
    community: str
    municipality_code: str
    organization_id: int | None


@dataclass(frozen=True)
class Product:
    id: int
    producer_id: int
    name: str
    category: str
    unit: str
    price_centavos: int
    stock: Decimal
    min_order: Decimal
    case_size: Decimal | None
    description: str = ""


@dataclass(frozen=True)
class DeliveryPoint:
    id: int
    name: str
    kind: str  # feria | tambo | mercado | tienda_ecologica | punto_comunitario | mercado_movil
    address: str
    municipality_code: str
    lat: float
    lon: float
    schedule: tuple[dict, ...]  # {"weekday": 0..6 (lunes = 0), "opens": "08:00", "closes": "13:00"}
    cold_storage: bool
    max_orders_per_cycle: int
    contact: str = ""


@dataclass(frozen=True)
class DemoCycle:
    """When a demo cycle takes orders and delivers, and at which points."""

    point_ids: tuple[int, ...]
    opens_at: datetime
    closes_at: datetime
    delivery_date: date


@dataclass(frozen=True)
class DemoCalendar:
    today: date
    open_cycle: DemoCycle
    closed_cycle: DemoCycle


class DemoWorldError(ValueError):
    """The demo world breaks a rule the platform enforces; it is not written."""


@dataclass
class World:
    seed: int
    municipalities: list[Municipality]
    organizations: list[Organization]
    producers: list[Producer]
    products: list[Product]
    delivery_points: list[DeliveryPoint]
    calendar: DemoCalendar | None = None
    notes: dict = field(default_factory=dict)

    def municipality(self, code: str) -> Municipality:
        return next(m for m in self.municipalities if m.code == code)


MUNICIPALITIES = [
    Municipality("020101", "La Paz", "Murillo", "La Paz", -16.4958, -68.1333),
    Municipality("020105", "El Alto", "Murillo", "La Paz", -16.5047, -68.1633),
    Municipality("020104", "Achocalla", "Murillo", "La Paz", -16.5736, -68.1658),
    Municipality("020102", "Palca", "Murillo", "La Paz", -16.5614, -67.9536),
    Municipality("020103", "Mecapaca", "Murillo", "La Paz", -16.6689, -68.0203),
    Municipality("020201", "Achacachi", "Omasuyos", "La Paz", -16.0500, -68.6833),
    Municipality("021101", "Coroico", "Nor Yungas", "La Paz", -16.1903, -67.7275),
    Municipality("022001", "Caranavi", "Caranavi", "La Paz", -15.8333, -67.5667),
    Municipality("021803", "Palos Blancos", "Sud Yungas", "La Paz", -15.5833, -67.2500),
    Municipality("021303", "Patacamaya", "Aroma", "La Paz", -17.2333, -67.9167),
    Municipality("030101", "Cochabamba", "Cercado", "Cochabamba", -17.3895, -66.1568),
    Municipality("030901", "Quillacollo", "Quillacollo", "Cochabamba", -17.3925, -66.2783),
    Municipality("030903", "Tiquipaya", "Quillacollo", "Cochabamba", -17.3380, -66.2150),
    Municipality("031001", "Sacaba", "Chapare", "Cochabamba", -17.4042, -66.0408),
    Municipality("070101", "Santa Cruz de la Sierra", "Andrés Ibáñez", "Santa Cruz", -17.7833, -63.1821),
    Municipality("070102", "Cotoca", "Andrés Ibáñez", "Santa Cruz", -17.7539, -62.9969),
    Municipality("070301", "Warnes", "Warnes", "Santa Cruz", -17.5167, -63.1667),
    Municipality("080201", "Riberalta", "Vaca Díez", "Beni", -11.0000, -66.0667),
]

# category -> [(name, unit, price in Bs, case size or None)]
PRODUCT_TYPES: dict[str, list[tuple[str, str, str, str | None]]] = {
    "hortalizas": [("Lechuga crespa", "unidad", "3.00", None), ("Tomate", "kg", "8.00", "20"),
                   ("Zanahoria", "kg", "5.00", None), ("Cebolla", "arroba", "45.00", None),
                   ("Acelga", "atado", "2.50", None), ("Brócoli", "unidad", "6.00", None),
                   ("Haba verde", "libra", "4.00", None)],
    "tuberculos": [("Papa huaycha", "arroba", "60.00", None), ("Papa imilla", "kg", "6.00", None),
                   ("Oca", "kg", "7.00", None), ("Chuño", "libra", "8.00", None), ("Tunta", "libra", "10.00", None)],
    "granos_andinos": [("Quinua real", "kg", "22.00", None), ("Cañahua", "kg", "25.00", None),
                       ("Amaranto", "kg", "20.00", None), ("Quinua real", "quintal", "950.00", None)],
    "cafe": [("Café tostado en grano", "libra", "45.00", None), ("Café molido de altura", "libra", "48.00", None)],
    "cacao": [("Cacao en grano", "kg", "40.00", None), ("Chocolate artesanal 70 %", "unidad", "15.00", "12")],
    "castana": [("Castaña pelada", "kg", "70.00", None)],
    "miel": [("Miel de abeja", "litro", "60.00", None), ("Miel de abeja, frasco 500 g", "unidad", "35.00", "12")],
    "lacteos": [("Queso fresco", "unidad", "25.00", None), ("Leche fresca", "litro", "6.00", None),
                ("Yogur natural", "litro", "14.00", None)],
    "frutas": [("Plátano", "docena", "10.00", "10"), ("Naranja", "docena", "12.00", "10"),
               ("Mandarina", "docena", "12.00", None), ("Durazno", "kg", "12.00", None), ("Palta", "unidad", "3.00", None)],
    "carnes": [("Carne de llama", "kg", "45.00", None), ("Trucha del lago", "kg", "35.00", None)],
    "procesados": [("Mermelada de frutilla", "unidad", "18.00", None), ("Api morado", "kg", "20.00", None),
                   ("Pito de cañahua", "kg", "24.00", None)],
}

# (name, legal form, municipality, maturity, value-chain stage, categories)
ORGANIZATIONS = [
    ("Asociación de Productores Ecológicos de Achocalla", "asociacion", "020104", "consolidada",
     "materia_prima", ("hortalizas", "tuberculos")),
    ("Cooperativa Agropecuaria Integral Caranavi", "cooperativa", "022001", "consolidada",
     "cadena_completa", ("cafe", "frutas")),
    ("OECA Quinua Patacamaya", "oeca", "021303", "en_consolidacion", "transformacion",
     ("granos_andinos", "procesados")),
    ("CORACA Alto Beni", "coraca", "021803", "en_consolidacion", "cadena_completa", ("cacao", "frutas")),
    ("Empresa Comunitaria Castañera Riberalta", "empresa_comunitaria", "080201", "consolidada",
     "transformacion", ("castana",)),
    ("Asociación de Apicultores de Tiquipaya", "asociacion", "030903", "embrionaria", "materia_prima", ("miel",)),
    ("Cooperativa Lechera Omasuyos", "cooperativa", "020201", "en_consolidacion", "transformacion",
     ("lacteos", "carnes")),
    ("Asociación de Paperos de Sacaba", "asociacion", "031001", "embrionaria", "materia_prima", ("tuberculos",)),
    ("OECA Frutícola Coroico", "oeca", "021101", "embrionaria", "materia_prima", ("frutas", "cafe")),
    ("Asociación Hortícola de Cotoca", "asociacion", "070102", "en_consolidacion", "materia_prima",
     ("hortalizas", "frutas")),
    ("Empresa Comunitaria Agroecológica Mecapaca", "empresa_comunitaria", "020103", "embrionaria",
     "materia_prima", ("hortalizas", "frutas")),
]

FEMALE_NAMES = ["María", "Juana", "Rosa", "Lidia", "Sabina", "Felipa", "Justina", "Carmen", "Elena", "Teodora",
                "Basilia", "Eulalia", "Martha", "Virginia", "Celia", "Nelly", "Primitiva", "Gregoria"]
MALE_NAMES = ["Juan", "Pedro", "Mario", "Félix", "Rubén", "Eusebio", "Hilarión", "Marcelo", "Ramiro", "Ángel",
              "Germán", "Simón", "Víctor", "Andrés", "Nicanor", "Celestino", "Wilfredo", "Esteban"]
SURNAMES = ["Mamani", "Quispe", "Condori", "Choque", "Flores", "Huanca", "Apaza", "Limachi", "Ticona", "Copa",
            "Vargas", "Rojas", "Gutiérrez", "Fernández", "Chávez", "Colque", "Yujra", "Poma", "Chambi", "Nina",
            "Cruz", "Calle", "Álvarez", "Guarachi", "Illanes", "Huarachi", "Saavedra", "Peñaranda"]
COMMUNITIES = ["Comunidad San José", "Comunidad Villa Esperanza", "Comunidad Chijipata", "Comunidad Huayhuasi",
               "Comunidad Santa Rosa", "Comunidad Tuni", "Colonia Nueva Vida", "Comunidad Jucumarini",
               "Comunidad Pampajasi", "Sindicato Agrario Lloto"]

DELIVERY_POINTS = [
    ("Feria Dominical de la 16 de Julio", "feria", "Av. Alfonso Ugarte, Zona 16 de Julio", "020105",
     -16.4932, -68.1814, ({"weekday": 6, "opens": "07:00", "closes": "15:00"},
                          {"weekday": 3, "opens": "07:00", "closes": "15:00"}), False, 60),
    ("Tambo Rodríguez", "tambo", "Calle Rodríguez esq. Zoilo Flores", "020101", -16.4987, -68.1425,
     ({"weekday": 5, "opens": "06:00", "closes": "12:00"},), False, 40),
    ("Mercado Sopocachi", "mercado", "Calle Guachalla, Sopocachi", "020101", -16.5106, -68.1258,
     ({"weekday": 5, "opens": "08:00", "closes": "14:00"}, {"weekday": 6, "opens": "08:00", "closes": "12:00"}),
     True, 30),
    ("Mercado Camacho", "mercado", "Av. Camacho esq. Bueno", "020101", -16.4990, -68.1309,
     ({"weekday": 5, "opens": "08:00", "closes": "13:00"},), True, 25),
    ("Tienda Ecológica Achumani", "tienda_ecologica", "Calle 16 de Achumani", "020101", -16.5300, -68.0720,
     ({"weekday": 4, "opens": "15:00", "closes": "19:00"}, {"weekday": 5, "opens": "09:00", "closes": "13:00"}),
     True, 20),
    ("Punto Comunitario Calacoto", "punto_comunitario", "Calle 21 de Calacoto, sede vecinal", "020101",
     -16.5410, -68.0780, ({"weekday": 5, "opens": "09:00", "closes": "12:00"},), False, 15),
    ("Feria Ecológica de Ciudad Satélite", "feria", "Plaza Juana Azurduy, Ciudad Satélite", "020105",
     -16.5245, -68.1585, ({"weekday": 5, "opens": "08:00", "closes": "14:00"},), False, 35),
    ("Mercado La Pampa", "mercado", "Av. Aroma, La Cancha", "030101", -17.4000, -66.1540,
     ({"weekday": 5, "opens": "07:00", "closes": "15:00"},), True, 40),
    ("Feria Agroecológica Cochabamba", "feria", "Plaza Colón", "030101", -17.3880, -66.1560,
     ({"weekday": 5, "opens": "08:00", "closes": "13:00"},), False, 30),
    ("Mercado Los Pozos", "mercado", "Calle Quijarro, Los Pozos", "070101", -17.7800, -63.1750,
     ({"weekday": 5, "opens": "06:00", "closes": "14:00"},), True, 40),
    ("Mercado Móvil Plan 3000", "mercado_movil", "Plaza del Plan 3000", "070101", -17.8300, -63.1400,
     ({"weekday": 6, "opens": "08:00", "closes": "12:00"},), False, 25),
    ("Punto Comunitario Warnes", "punto_comunitario", "Sede de la OTB Central, Warnes", "070301",
     -17.5167, -63.1667, ({"weekday": 5, "opens": "09:00", "closes": "12:00"},), False, 15),
]

# the demo cycles serve the points open on Saturday, the day most of them open (ferias, mercados)
DEMO_CYCLE_WEEKDAY = 5
DAYS_AHEAD = 2  # the open cycle delivers at least this many days after today
CLOSING_TIME = time(12, 0, tzinfo=clock.BOLIVIA)  # cycles close at noon the day before delivery

SMALL = {"producers": 120}
SCALE = {"producers": 10_000, "products": 100_000}


def _phone(rng: random.Random) -> str:
    return f"+591 {rng.choice('67')}{rng.randint(0, 9_999_999):07d}"


def demo_calendar(points: list[DeliveryPoint], *, now: datetime) -> DemoCalendar:
    """The demo cycles' dates seen from `now`: see the module's docstring."""
    today = now.astimezone(clock.BOLIVIA).date()
    served = [p for p in points if any(w["weekday"] == DEMO_CYCLE_WEEKDAY for w in p.schedule)]
    schedules = [list(p.schedule) for p in served]
    ahead = first_day_all_serve(schedules, start=today + timedelta(days=DAYS_AHEAD))
    before = first_day_all_serve(schedules, start=today - timedelta(days=1), step=-1)
    if not served or ahead is None or before is None:
        raise DemoWorldError("no day of the week on which every point of the demo cycles opens")
    ids = tuple(p.id for p in served)

    def closing(delivery: date) -> datetime:
        return datetime.combine(delivery - timedelta(days=1), CLOSING_TIME)

    return DemoCalendar(
        today=today,
        open_cycle=DemoCycle(ids, now - timedelta(days=1), closing(ahead), ahead),
        closed_cycle=DemoCycle(ids, closing(before) - timedelta(days=7), closing(before), before))


def check_calendar(world: World, *, now: datetime) -> None:
    """Refuse a world whose cycles deliver on a day one of their points is closed, or whose open
    cycle does not take orders now (DemoWorldError, saying what is wrong)."""
    calendar = world.calendar
    if calendar is None:
        raise DemoWorldError("the demo world has no calendar")
    points = {p.id: {"id": p.id, "name": p.name, "schedule": list(p.schedule)} for p in world.delivery_points}
    for label, cycle in (("open", calendar.open_cycle), ("closed", calendar.closed_cycle)):
        unknown = [i for i in cycle.point_ids if i not in points]
        if unknown or not cycle.point_ids:
            raise DemoWorldError(f"the {label} demo cycle names unknown points: {unknown}")
        closed = closed_on([points[i] for i in cycle.point_ids], cycle.delivery_date)
        if closed:
            named = "; ".join(f"{p['name']} opens {days_text(p['open_days'])}" for p in closed)
            raise DemoWorldError(f"the {label} demo cycle delivers on {WEEKDAYS[cycle.delivery_date.weekday()]} "
                                 f"{cycle.delivery_date}, when these points are closed: {named}")
        if not (cycle.opens_at < cycle.closes_at and cycle.closes_at.date() <= cycle.delivery_date):
            raise DemoWorldError(f"the {label} demo cycle closes after it delivers or opens after it closes")
    today = now.astimezone(clock.BOLIVIA).date()
    if not (calendar.open_cycle.opens_at <= now < calendar.open_cycle.closes_at
            and calendar.open_cycle.delivery_date >= today + timedelta(days=DAYS_AHEAD)):
        raise DemoWorldError("the open demo cycle does not take orders now for a delivery at least "
                             f"{DAYS_AHEAD} days ahead")
    if not calendar.closed_cycle.delivery_date < today:
        raise DemoWorldError("the closed demo cycle delivers today or later")


def build_world(seed: int = 7, scale: bool = False, now: datetime | None = None) -> World:
    """The demo world; with `scale`, the benchmark sizes (10k producers, 100k products). Its
    calendar is seen from `now` (the platform's clock by default)."""
    rng = random.Random(seed)
    organizations = []
    for i, (name, form, code, maturity, stage, cats) in enumerate(ORGANIZATIONS, start=1):
        members = rng.randint(18, 160)
        papers = ("personería jurídica", "NIT") + (("registro SENASAG",) if stage != "materia_prima" else ())
        organizations.append(Organization(
            id=i, name=name, legal_form=form, nit=f"{rng.randint(100_000_000, 999_999_999)}01{i:02d}",
            legal_papers=papers, maturity=maturity, value_chain_stage=stage, municipality_code=code,
            members=members, women_members=round(members * rng.uniform(0.3, 0.6)), phone=_phone(rng),
            categories=cats))

    n_producers = SCALE["producers"] if scale else SMALL["producers"]
    producers = []
    for pid in range(1, n_producers + 1):
        female = rng.random() < 0.42
        first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        name = f"{first} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
        if rng.random() < 0.8:
            org = organizations[(pid - 1) % len(organizations)]
            org_id, code = org.id, org.municipality_code
        else:
            org_id, code = None, rng.choice(MUNICIPALITIES).code
        producers.append(Producer(id=pid, name=name, gender="female" if female else "male", phone=_phone(rng),
                                  community=rng.choice(COMMUNITIES), municipality_code=code, organization_id=org_id))

    orgs_by_id = {o.id: o for o in organizations}
    products: list[Product] = []
    per_producer = (SCALE["products"] // n_producers) if scale else None
    for producer in producers:
        cats = orgs_by_id[producer.organization_id].categories if producer.organization_id else \
            (rng.choice(list(PRODUCT_TYPES)),)
        choices = [(c, t) for c in cats for t in PRODUCT_TYPES[c]]
        count = per_producer or rng.randint(1, 4)
        seen: set[tuple[str, str]] = set()
        for n in range(count):
            category, (pname, unit, price, case) = choices[rng.randrange(len(choices))]
            if (pname, unit) in seen:
                pname = f"{pname} ({['segunda', 'tercera', 'cuarta', 'quinta'][n % 4]} cosecha)" if not scale \
                    else f"{pname} lote {n + 1}"
                if (pname, unit) in seen:
                    continue
            seen.add((pname, unit))
            factor = Decimal(rng.randint(85, 120)) / 100
            price_c = int((Decimal(price) * 100 * factor).quantize(Decimal(1)))
            stock = Decimal(rng.randint(5, 400))
            products.append(Product(
                id=len(products) + 1, producer_id=producer.id, name=pname, category=category, unit=unit,
                price_centavos=price_c, stock=stock, min_order=Decimal(1),
                case_size=Decimal(case) if case else None,
                description=f"{pname} de {COMMUNITIES[producer.id % len(COMMUNITIES)]}, cosecha de la temporada."))

    points = [DeliveryPoint(id=i, name=n, kind=k, address=a, municipality_code=c, lat=la, lon=lo, schedule=s,
                            cold_storage=cold, max_orders_per_cycle=cap, contact=_phone(rng))
              for i, (n, k, a, c, la, lo, s, cold, cap) in enumerate(DELIVERY_POINTS, start=1)]
    return World(seed=seed, municipalities=list(MUNICIPALITIES), organizations=organizations,
                 producers=producers, products=products, delivery_points=points,
                 calendar=demo_calendar(points, now=now or clock.now()))
