"""Printable consolidation: CSV (one sheet, three sections) and an A4 PDF with Spanish headings.

The PDF uses fpdf2's core Helvetica, whose latin-1 encoding covers Spanish (á, é, ñ, ¿, ¡); any
character outside latin-1 is replaced so printing never fails on an unusual name.
"""

from fpdf import FPDF

from services.common.csv_files import csv_text


def consolidation_csv(doc: dict) -> str:
    rows: list[list] = []
    add = rows.append
    cycle = doc["cycle"]
    add(["Ciclo", cycle["id"], cycle["name"], "Entrega", str(cycle["delivery_date"])])
    add([])
    add(["Lista de recojo por productor"])
    add(["productor_id", "productor", "organizacion_id", "producto_id", "producto", "unidad",
                "precio_unitario", "cantidad", "valor", "kg", "punto_entrega_id", "cantidad_punto"])
    for p in doc["producers"]:
        for x in p["products"]:
            for split in x["by_point"]:
                add([p["producer_id"], p["producer_name"], p["organization_id"] or "", x["product_id"],
                            x["product_name"], x["unit"], x["unit_price"], x["quantity"], x["value"],
                            x["kg"] or "", split["delivery_point_id"], split["quantity"]])
    add([])
    add(["Lista de empaque por punto de entrega"])
    add(["punto_entrega_id", "pedido_id", "consumidor_id", "consumidor", "codigo_recojo", "producto",
                "productor", "cantidad", "unidad", "importe", "total_pedido"])
    for point in doc["delivery_points"]:
        for bag in point["bags"]:
            for line in bag["lines"]:
                add([point["delivery_point_id"], bag["order_id"], bag["consumer_account_id"],
                            bag["consumer_name"], bag["pickup_code"] or "", line["product_name"],
                            line["producer_name"], line["quantity"], line["unit"], line["line_total"], bag["total"]])
    add([])
    add(["Totales por organización"])
    add(["organizacion_id", "productores", "valor", "kg"])
    for org in doc["organizations"]:
        add([org["organization_id"] or "sin organización", org["producers"], org["value"], org["kg"] or ""])
    return csv_text(rows)


def _latin1(text) -> str:
    return str(text if text is not None else "").encode("latin-1", "replace").decode("latin-1")


class _Sheet(FPDF):
    title_text = ""

    def header(self):
        self.set_font("Helvetica", "B", 9)
        self.cell(0, 6, _latin1(self.title_text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"Página {self.page_no()}".encode("latin-1").decode("latin-1"), align="C")


def _row(pdf: FPDF, widths: list[float], values: list, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 8)
    for width, value in zip(widths, values, strict=True):
        text = _latin1(value)
        while text and pdf.get_string_width(text) > width - 1.5:
            text = text[:-1]
        pdf.cell(width, 5, text, border=1)
    pdf.ln()


def consolidation_pdf(doc: dict) -> bytes:
    cycle = doc["cycle"]
    pdf = _Sheet(orientation="P", unit="mm", format="A4")
    pdf.title_text = f"Mercado Corto - Ciclo {cycle['id']}: {cycle['name']} - entrega {cycle['delivery_date']}"
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin1("Listas de recojo por productor"), new_x="LMARGIN", new_y="NEXT")
    widths = [70, 20, 25, 25, 20, 30]
    for p in doc["producers"]:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 7, _latin1(f"{p['producer_name']} (productor {p['producer_id']}) - total Bs {p['value']}"),
                 new_x="LMARGIN", new_y="NEXT")
        _row(pdf, widths, ["Producto", "Unidad", "Cantidad", "Valor (Bs)", "Kg", "Por punto"], bold=True)
        for x in p["products"]:
            split = ", ".join(f"P{s['delivery_point_id']}: {s['quantity']}" for s in x["by_point"])
            _row(pdf, widths, [x["product_name"], x["unit"], x["quantity"], x["value"], x["kg"] or "-", split])
        pdf.ln(2)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin1("Listas de empaque por punto de entrega"), new_x="LMARGIN", new_y="NEXT")
    widths = [80, 45, 25, 20, 20]
    for point in doc["delivery_points"]:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 7, _latin1(f"Punto de entrega {point['delivery_point_id']} - {point['orders']} bolsas"),
                 new_x="LMARGIN", new_y="NEXT")
        for bag in point["bags"]:
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(0, 6, _latin1(f"Bolsa del pedido {bag['order_id']} - {bag['consumer_name'] or 'consumidor'} "
                                   f"({bag['consumer_account_id']}) - código {bag['pickup_code'] or '-'} - "
                                   f"total Bs {bag['total']}"), new_x="LMARGIN", new_y="NEXT")
            _row(pdf, widths, ["Producto", "Productor", "Cantidad", "Unidad", "Importe"], bold=True)
            for line in bag["lines"]:
                _row(pdf, widths, [line["product_name"], line["producer_name"], line["quantity"], line["unit"],
                                   line["line_total"]])
            pdf.ln(1)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin1("Totales por organización"), new_x="LMARGIN", new_y="NEXT")
    widths = [60, 30, 40, 30]
    _row(pdf, widths, ["Organización", "Productores", "Valor (Bs)", "Kg"], bold=True)
    for org in doc["organizations"]:
        _row(pdf, widths, [org["organization_id"] or "sin organización", org["producers"], org["value"],
                           org["kg"] or "-"])
    return bytes(pdf.output())
