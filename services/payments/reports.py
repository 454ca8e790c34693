"""Reports: a producer's statement per cycle (JSON, CSV, PDF), a financier's portfolio, a
producer's advance history, and anonymous advance statistics for municipal monitoring.
"""

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.csv_files import csv_text
from services.common.disclosure import suppress_for
from services.common.errors import NotFound
from services.common.money import format_bs, from_centavos, to_centavos
from services.payments.ledger import AccountKind, account_code
from services.payments.models import (
    accounts,
    advances,
    entries,
    financiers,
    funds,
    postings,
    producer_profiles,
    receivables,
)
from services.payments.payout_statements import producer_payouts

FEMALE = ("female", "f", "mujer", "femenino")


def bs(centavos: int) -> str:
    return str(from_centavos(int(centavos)))


# ---------------------------------------------------------------- producer statement
async def producer_statement(*, session: AsyncSession, producer_id: int, cycle_id: int) -> dict:
    rows = (await session.execute(select(receivables).where(receivables.c.producer_id == producer_id,
                                                            receivables.c.cycle_id == cycle_id)
                                  .order_by(receivables.c.id))).all()
    advance_ids = sorted({r.advance_id for r in rows if r.advance_id is not None})
    advs = (await session.execute(select(advances).where(advances.c.id.in_(advance_ids))
                                  .order_by(advances.c.id))).all() if advance_ids else []
    producer_account = account_code(AccountKind.producer, producer_id)
    repayments = (await session.execute(
        select(entries.c.id, entries.c.ref, entries.c.created_at, postings.c.amount)
        .join(postings, postings.c.entry_id == entries.c.id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(entries.c.kind == "advance_repayment", entries.c.producer_id == producer_id,
               entries.c.cycle_id == cycle_id, accounts.c.code == producer_account)
        .order_by(entries.c.id))).all()
    accepted = sum(r.accepted_value for r in rows)
    fees = sum(r.fees for r in rows)
    net = sum(r.amount for r in rows)
    collected = sum(min(r.amount, r.collected) for r in rows)
    live = [a for a in advs if a.status in ("disbursed", "repaid", "producer_debt")]
    advanced = sum(a.principal for a in live)
    advance_fees = sum(a.fee for a in live)
    repaid = sum(r.amount for r in repayments)
    paid_out = await producer_payouts(session=session, producer_id=producer_id, cycle_id=cycle_id)
    return {
        **paid_out,  # `settlement` (once final: share taken, payable, paid out) and each `payouts` line
        "producer_id": producer_id, "cycle_id": cycle_id, "currency": "BOB",
        "consignments": [{
            "receivable_id": r.id, "consignment_id": r.consignment_id, "delivery_point_id": r.delivery_point_id,
            "received_at": r.received_at.isoformat(), "status": r.status,
            "lines": r.lines, "accepted_value": bs(r.accepted_value),
            "fees": [{**f, "amount": bs(f["amount"])} for f in r.fee_lines],
            "fees_total": bs(r.fees), "net": bs(r.amount), "collected": bs(min(r.amount, r.collected)),
        } for r in rows],
        "advances": [{"advance_id": a.id, "status": a.status, "principal": bs(a.principal), "fee": bs(a.fee),
                      "principal_repaid": bs(a.principal_repaid), "fee_repaid": bs(a.fee_repaid),
                      "financier_id": a.financier_id} for a in advs],
        "repayments": [{"entry_id": r.id, "advance": r.ref, "amount": bs(r.amount),
                        "at": r.created_at.isoformat()} for r in repayments],
        "totals": {
            "accepted_value": bs(accepted), "fees": bs(fees), "net_receivable": bs(net),
            "collected": bs(collected), "advanced": bs(advanced), "advance_fees": bs(advance_fees),
            "repaid_to_financier": bs(repaid),
            # what the producer still receives for this cycle, her advances (principal and fee) deducted
            "net_payable": bs(net - advanced - advance_fees),
        },
    }


def statement_csv(statement: dict) -> str:
    rows: list[list] = []
    add = rows.append
    for c in statement["consignments"]:
        for ln in c["lines"]:
            add(["line", c["consignment_id"], ln.get("product_name") or ln.get("product_id"),
                        ln.get("ordered_quantity"),
                        ln.get("received_quantity"), ln.get("rejected_quantity"), ln.get("unit"),
                        ln.get("unit_price"), ln.get("accepted_value")])
        for f in c["fees"]:
            add(["fee", c["consignment_id"], "", "", "", "", "", f["rate"], "-" + f["amount"]])
    for a in statement["advances"]:
        add(["advance", a["advance_id"], "", "", "", "", "", "", a["principal"]])
        add(["advance_fee", a["advance_id"], "", "", "", "", "", "", a["fee"]])
    for r in statement["repayments"]:
        add(["repayment", r["advance"], "", "", "", "", "", "", r["amount"]])
    for p in statement.get("payouts", []):
        add(["payout", p["payout_id"], p["method"], "", "", "", "", p["status"], p["amount"]])
    for key, value in (statement.get("settlement") or {}).items():
        if key in ("organization_share", "payable", "paid_out", "left_to_pay"):
            add(["settlement", key, "", "", "", "", "", "", value])
    for key, value in statement["totals"].items():
        add(["total", key, "", "", "", "", "", "", value])
    return csv_text(rows, header=["section", "ref", "product", "ordered", "received", "rejected", "unit",
                                  "unit_price", "amount"])


def statement_pdf(statement: dict) -> bytes:
    from fpdf import FPDF

    def t(text) -> str:
        return str(text).encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, t(f"Liquidación — productora {statement['producer_id']}, ciclo {statement['cycle_id']}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for c in statement["consignments"]:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 7, t(f"Entrega {c['consignment_id']} ({c['received_at'][:10]})"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        for ln in c["lines"]:
            product = ln.get("product_name") or f"producto {ln.get('product_id')}"
            pdf.cell(0, 5, t(f"  {product}: pedido {ln.get('ordered_quantity')} "
                             f"recibido {ln.get('received_quantity')} {ln.get('unit', '')} "
                             f"x {ln.get('unit_price')} = Bs {ln.get('accepted_value')}"), new_x="LMARGIN", new_y="NEXT")
        for f in c["fees"]:
            pdf.cell(0, 5, t(f"  comisión {f['name']} ({f['kind']} {f['rate']}): -Bs {f['amount']}"),
                     new_x="LMARGIN", new_y="NEXT")
    for a in statement["advances"]:
        pdf.cell(0, 5, t(f"Pronto pago {a['advance_id']} ({a['status']}): Bs {a['principal']} + comisión Bs {a['fee']}"),
                 new_x="LMARGIN", new_y="NEXT")
    for r in statement["repayments"]:
        pdf.cell(0, 5, t(f"Reembolso al financiador ({r['advance']}): Bs {r['amount']}"), new_x="LMARGIN", new_y="NEXT")
    for p in statement.get("payouts", []):
        pdf.cell(0, 5, t(f"Pago {p['payout_id']} ({p['method']}, {p['status']}): {format_bs(to_centavos(p['amount']))}"),
                 new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 10)
    labels = {"accepted_value": "Valor aceptado", "fees": "Comisiones", "net_receivable": "Por cobrar neto",
              "collected": "Cobrado", "advanced": "Anticipado", "advance_fees": "Comisión de anticipo",
              "repaid_to_financier": "Reembolsado al financiador", "net_payable": "Neto a pagar"}
    for key, value in statement["totals"].items():
        pdf.cell(0, 6, t(f"{labels.get(key, key)}: {format_bs(to_centavos(value))}"),
                 new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# ---------------------------------------------------------------- financier portfolio
def _sums(*extra):
    outstanding = case((advances.c.status.in_(("disbursed", "producer_debt")),
                        advances.c.principal - advances.c.principal_repaid), else_=0)
    outstanding_fee = case((advances.c.status.in_(("disbursed", "producer_debt")),
                            advances.c.fee - advances.c.fee_repaid), else_=0)
    debt = case((advances.c.status == "producer_debt",
                 advances.c.principal + advances.c.fee - advances.c.principal_repaid - advances.c.fee_repaid), else_=0)
    disbursed = advances.c.status.in_(("disbursed", "repaid", "producer_debt"))
    return (*extra,
            func.count().label("advances"),
            func.coalesce(func.sum(case((disbursed, advances.c.principal), else_=0)), 0).label("disbursed"),
            func.coalesce(func.sum(outstanding), 0).label("outstanding"),
            func.coalesce(func.sum(outstanding_fee), 0).label("outstanding_fees"),
            func.coalesce(func.sum(advances.c.principal_repaid), 0).label("repaid"),
            func.coalesce(func.sum(case((disbursed, advances.c.fee), else_=0)), 0).label("fees_charged"),
            func.coalesce(func.sum(advances.c.fee_repaid), 0).label("fees_earned"),
            func.coalesce(func.sum(debt), 0).label("producer_debt"))


SUMMED = ("advances", "disbursed", "outstanding", "outstanding_fees", "repaid", "fees_charged", "fees_earned",
          "producer_debt")


def _add(rows) -> SimpleNamespace:
    return SimpleNamespace(**{k: sum(int(getattr(r, k)) for r in rows) for k in SUMMED})


def _money_row(row) -> dict:
    return {"advances": int(row.advances), "disbursed": bs(row.disbursed), "outstanding": bs(row.outstanding),
            "outstanding_fees": bs(row.outstanding_fees), "repaid": bs(row.repaid),
            "fees_charged": bs(row.fees_charged), "fees_earned": bs(row.fees_earned),
            "producer_debt": bs(row.producer_debt)}


async def financier_portfolio(*, session: AsyncSession, financier_id: int) -> dict:
    fin = (await session.execute(select(financiers).where(financiers.c.id == financier_id))).one_or_none()
    if fin is None:
        raise NotFound(f"financier {financier_id} is not registered in payments", code="financier_not_found")
    # one aggregate query (per producer); totals, municipalities and genders are summed from it
    joined = advances.outerjoin(producer_profiles, producer_profiles.c.producer_id == advances.c.producer_id)
    by_producer = (await session.execute(select(*_sums(advances.c.producer_id, producer_profiles.c.name,
                                                       producer_profiles.c.gender, producer_profiles.c.municipality_code))
                                         .select_from(joined).where(advances.c.financier_id == financier_id)
                                         .group_by(advances.c.producer_id, producer_profiles.c.name,
                                                   producer_profiles.c.gender, producer_profiles.c.municipality_code)
                                         .order_by(advances.c.producer_id))).all()
    total = _add(by_producer)
    munis: dict[str, list] = {}
    for r in by_producer:
        munis.setdefault(r.municipality_code or "unknown", []).append(r)
    by_muni = [SimpleNamespace(municipality_code=code, **vars(_add(rows))) for code, rows in sorted(munis.items())]
    women_rows = [r for r in by_producer if str(r.gender or "").lower() in FEMALE]
    fund_rows = (await session.execute(select(funds).where(funds.c.financier_id == financier_id)
                                       .order_by(funds.c.id))).all()
    women = sum(int(r.disbursed) for r in women_rows)
    women_producers = sum(1 for r in women_rows if int(r.disbursed) > 0)
    producers = sum(1 for r in by_producer if int(r.disbursed) > 0)
    return {
        "financier_id": financier_id, "name": fin.name, "currency": "BOB",
        "totals": _money_row(total),
        "funds": [{"fund_id": f.id, "name": f.name, "cap": bs(f.cap), "outstanding_principal": bs(f.outstanding_principal),
                   "available": bs(f.cap - f.outstanding_principal)} for f in fund_rows],
        "by_producer": [{"producer_id": r.producer_id, "name": r.name, "gender": r.gender,
                         "municipality_code": r.municipality_code, **_money_row(r)} for r in by_producer],
        "by_municipality": [{"municipality_code": r.municipality_code, **_money_row(r)} for r in by_muni],
        "women_share": {
            "value": _share(women, int(total.disbursed)),
            "producers": _share(women_producers, producers),
        },
    }


def _share(part: int, whole: int) -> str:
    return f"{(part / whole):.4f}" if whole else "0.0000"


async def advance_statistics(*, session: AsyncSession, municipality_code: str | None,
                             date_from: date | None = None, date_to: date | None = None,
                             caller: Principal | None = None) -> dict:
    """Counts and sums of advances disbursed (in the period, by disbursal day): no personal data.
    A municipality asking directly gets no amount of fewer than 3 producers (nor of fewer than 3 women)."""
    joined = advances.outerjoin(producer_profiles, producer_profiles.c.producer_id == advances.c.producer_id)
    disbursed = advances.c.status.in_(("disbursed", "repaid", "producer_debt"))
    female = func.lower(func.coalesce(producer_profiles.c.gender, "")).in_(FEMALE)
    query = select(
        func.count().label("count"),
        func.count(func.distinct(advances.c.producer_id)).label("producers"),
        func.coalesce(func.sum(advances.c.principal), 0).label("value"),
        func.coalesce(func.sum(advances.c.fee), 0).label("fees"),
        func.coalesce(func.sum(case((female, advances.c.principal), else_=0)), 0).label("women_value"),
        func.count(func.distinct(case((female, advances.c.producer_id), else_=None))).label("women_producers"),
    ).select_from(joined).where(disbursed)
    if municipality_code:
        query = query.where(producer_profiles.c.municipality_code == municipality_code)
    if date_from:
        query = query.where(advances.c.disbursed_at >= datetime.combine(date_from, time.min, UTC))
    if date_to:
        query = query.where(advances.c.disbursed_at < datetime.combine(date_to + timedelta(days=1), time.min, UTC))
    row = (await session.execute(query)).one()
    out = {"municipality_code": municipality_code, "advances": int(row.count), "producers": int(row.producers),
           "value": bs(row.value), "fees": bs(row.fees), "women_value": bs(row.women_value),
           "women_producers": int(row.women_producers),
           "women_share": {"value": _share(int(row.women_value), int(row.value)),
                           "producers": _share(int(row.women_producers), int(row.producers))}}
    [out] = suppress_for(caller, [out], key="producers", figures=("value", "fees"))
    [out] = suppress_for(caller, [out], key="women_producers", figures=("women_value",))
    if out.get("suppressed"):
        out["women_share"] = {"value": None, "producers": out["women_share"]["producers"]}
    return out


async def producer_history(*, session: AsyncSession, producer_id: int) -> list:
    return (await session.execute(select(advances).where(advances.c.producer_id == producer_id)
                                  .order_by(advances.c.id.desc()))).all()


