"""The monitoring report as CSV: one figure per row, in a long format that any spreadsheet pivots.

Columns: `seccion, grupo, elemento, unidad, indicador, valor`. Decimal points are dots and amounts
are bolivianos (the `unidad` column says so), so the file imports the same everywhere. The report
holds no names or phones, and neither does the file; `csv_text` keeps any cell from running as a
spreadsheet formula.
"""

from services.common.csv_files import csv_text

HEADER = ("seccion", "grupo", "elemento", "unidad", "indicador", "valor")


def _scope_rows(scope: dict) -> list[tuple]:
    return [("alcance", "", "", "", key, scope.get(key) or "") for key in ("municipality", "department", "from", "to")]


def report_rows(report: dict) -> list[tuple]:
    rows = _scope_rows(report["scope"])
    for group in ("registered", "active"):
        g = report["producers"][group]
        for key in ("total", "women", "men", "other"):
            rows.append(("productores", group, "", "personas", key, g[key]))
        rows.append(("productores", group, "", "%", "women_share", g["women_share"]))
    o = report["organizations"]
    rows.append(("organizaciones", "", "", "organizaciones", "total", o["total"]))
    rows.append(("organizaciones", "", "", "personas", "members", o["members"]))
    rows.append(("organizaciones", "", "", "personas", "women_members", o["women_members"]))
    for row in o["by_legal_form"]:
        rows.append(("organizaciones", "forma_juridica", row["legal_form"], "organizaciones", "count", row["count"]))
    for row in o["by_maturity"]:
        rows.append(("organizaciones", "madurez", row["maturity"], "organizaciones", "count", row["count"]))
    s = report["supply"]
    for row in s["by_category"]:
        rows.append(("oferta_y_ventas", "categoria", row["category"], "BOB", "offered_value", row["offered_value"]))
        rows.append(("oferta_y_ventas", "categoria", row["category"], "BOB", "sold_value", row["sold_value"]))
        rows.append(("oferta_y_ventas", "categoria", row["category"], "BOB", "delivered_value",
                     row["delivered_value"]))
    for row in s["by_product"]:
        item = f"{row['product']} ({row['unit']})"
        rows.append(("oferta_y_ventas", row["category"], item, row["unit"], "offered_quantity", row["offered_quantity"]))
        rows.append(("oferta_y_ventas", row["category"], item, "BOB", "offered_value", row["offered_value"]))
        rows.append(("oferta_y_ventas", row["category"], item, row["unit"], "sold_quantity", row["sold_quantity"]))
        rows.append(("oferta_y_ventas", row["category"], item, "BOB", "sold_value", row["sold_value"]))
        rows.append(("oferta_y_ventas", row["category"], item, row["unit"], "delivered_quantity",
                     row["delivered_quantity"]))
        rows.append(("oferta_y_ventas", row["category"], item, "BOB", "delivered_value", row["delivered_value"]))
    pr = report["prices"]
    rows.append(("precios", "", "", "indice", "fair_price_index", pr["fair_price_index"]))
    for row in pr["items"]:
        item = f"{row['product']} ({row['unit']})"
        rows.append(("precios", row["category"], item, "BOB", "average_paid", row["average_paid"]))
        rows.append(("precios", row["category"], item, "BOB", "reference", row["reference"]))
        rows.append(("precios", row["category"], item, "indice", "index", row["index"]))
    for row in report["delivery_points"]:
        item = f"{row['point_id']} {row['name']}"
        for key in ("orders", "picked_up", "no_shows", "waitlisted"):
            rows.append(("puntos_de_entrega", row["municipality_code"], item, "pedidos", key, row[key]))
    a = report["advances"]
    for key, unit in (("count", "adelantos"), ("value", "BOB"), ("fees", "BOB"), ("producers", "personas"),
                      ("women_producers", "personas"), ("women_value", "BOB"), ("women_share_value", "%"),
                      ("women_share_producers", "%")):
        rows.append(("adelantos", "", "", unit, key, a[key]))
    rows += [("programa", "", "", "", key, value) for key, value in report["program"].items()]
    return rows


def program_rows(program: dict, scope: dict) -> list[tuple]:
    return _scope_rows(scope) + [("programa", "", "", "", key, value) for key, value in program.items()]


def to_csv(rows: list[tuple]) -> str:
    return csv_text(rows, header=HEADER)
