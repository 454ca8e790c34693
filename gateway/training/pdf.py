"""A training module as a printable PDF for in-person workshops: every lesson's text, its questions
with empty boxes to tick, and the answers on the last page for whoever leads the workshop.

fpdf2's core Helvetica is latin-1, which covers Spanish (á, ñ, ¿, ¡, «»); the few typographic signs
outside it are written with their latin-1 look-alikes, anything else is replaced, so printing never
fails on a lesson's text.
"""

from fpdf import FPDF

from gateway.training.lessons import AUDIENCES, Module

_LOOKALIKES = str.maketrans({"−": "-", "–": "-", "—": "-", "…": "...", "“": '"', "”": '"', "‘": "'",
                             "’": "'", "•": "-", "\u00a0": " "})


def latin1(text: str) -> str:
    return text.translate(_LOOKALIKES).encode("latin-1", "replace").decode("latin-1")


class _Booklet(FPDF):
    def __init__(self, title: str):
        super().__init__(format="A4")
        self.booklet_title = title
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=16)

    def header(self):
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, latin1(f"Mercado Corto · Capacitación · {self.booklet_title}"), new_x="LMARGIN",
                  new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(2)

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, latin1(f"Página {self.page_no()}"), align="C")


def module_pdf(module: Module) -> bytes:
    pdf = _Booklet(module.title)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 9, latin1(module.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    minutes = sum(lesson.minutes for lesson in module.lessons)
    pdf.multi_cell(0, 6, latin1(f"Para: {AUDIENCES[module.audience]} · {len(module.lessons)} lecciones · "
                                f"unos {minutes} minutos"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.multi_cell(0, 6, latin1(module.summary), new_x="LMARGIN", new_y="NEXT")
    for number, lesson in enumerate(module.lessons, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 15)
        pdf.multi_cell(0, 8, latin1(f"{number}. {lesson.title}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.write_html(latin1(lesson.html), table_line_separators=True)
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 7, latin1("Preguntas"), new_x="LMARGIN", new_y="NEXT")
        for q_number, question in enumerate(lesson.questions, start=1):
            pdf.set_font("Helvetica", "B", 11)
            pdf.multi_cell(0, 6, latin1(f"{q_number}. {question.text}"), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 11)
            for choice in question.choices:
                pdf.multi_cell(0, 6, latin1(f"    [   ]  {choice}"), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, latin1("Respuestas (para quien dirige el taller)"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for number, lesson in enumerate(module.lessons, start=1):
        answers = "; ".join(f"{i}. {q.choices[q.answer]}" for i, q in enumerate(lesson.questions, start=1))
        pdf.multi_cell(0, 5, latin1(f"Lección {number}: {answers}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())
