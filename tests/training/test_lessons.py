"""The lessons as files: every shipped lesson renders, stays under its size budget and has a valid
quiz; a lesson that breaks the rules is refused by name, so a content fix never needs code."""

import re
from pathlib import Path

import pytest

from gateway.training.__main__ import check
from gateway.training.lessons import (
    MAX_LESSON_BYTES,
    MAX_QUESTIONS,
    MIN_QUESTIONS,
    LessonError,
    grade,
    load_catalogue,
)

GOOD_LESSON = """---
title: Una lección
audience: productor
minutes: 3
order: 1
---
Texto con **negrita** y una tabla:

| a | b |
| --- | --- |
| 1 | 2 |

## Preguntas

### ¿Uno?
- [x] sí
- [ ] no

### ¿Dos?
- [ ] sí
- [x] no
"""
MODULE_INDEX = "---\ntitle: Módulo\naudience: productor\norder: 1\n---\nResumen.\n"


def write_module(root: Path, lessons: dict[str, str]) -> Path:
    folder = root / "01-prueba"
    folder.mkdir(parents=True)
    (folder / "modulo.md").write_text(MODULE_INDEX, encoding="utf-8")
    for name, text in lessons.items():
        (folder / name).write_text(text, encoding="utf-8")
    return root


def test_every_shipped_lesson_renders_with_a_valid_quiz_under_its_budget():
    modules = load_catalogue()
    audiences = {m.audience for m in modules}
    assert {"productor", "organizacion", "consumidor"} <= audiences
    assert sum(len(m.lessons) for m in modules) >= 11
    for module in modules:
        for lesson in module.lessons:
            assert lesson.title and lesson.minutes > 0
            assert "<p>" in lesson.html
            assert len(lesson.html.encode()) < MAX_LESSON_BYTES
            assert MIN_QUESTIONS <= len(lesson.questions) <= MAX_QUESTIONS
            for question in lesson.questions:
                assert len(question.choices) >= 2
                assert 0 <= question.answer < len(question.choices)
    producer_text = " ".join(lesson.body_markdown for m in modules if m.audience == "productor" for lesson in m.lessons)
    for example in ("Bs ", "arroba", "libra", "quintal"):  # real examples in Bs and Bolivian units
        assert example in producer_text, example


def test_producer_lessons_cover_the_jobs_named_by_the_programme():
    titles = " ".join(lesson.title.lower() for m in load_catalogue() if m.audience == "productor"
                      for lesson in m.lessons)
    for topic in ("cuenta", "foto", "precio", "entrega", "pronto pago", "estado de cuenta"):
        assert topic in titles, topic


def test_the_check_command_accepts_the_shipped_lessons():
    assert check() == 0


def test_lesson_without_questions_is_refused_by_name(tmp_path):
    text = GOOD_LESSON.split("## Preguntas")[0]
    root = write_module(tmp_path, {"01-sin-preguntas.md": text})
    with pytest.raises(LessonError, match=r"01-sin-preguntas\.md.*Preguntas"):
        load_catalogue(root)
    assert check(root) == 1


def test_question_without_a_right_answer_is_refused(tmp_path):
    root = write_module(tmp_path, {"01-mala.md": GOOD_LESSON.replace("- [x] no", "- [ ] no")})
    with pytest.raises(LessonError, match="no marca la respuesta correcta"):
        load_catalogue(root)


def test_lesson_over_the_size_budget_is_refused(tmp_path, capsys):
    body = "Un párrafo largo. " * (MAX_LESSON_BYTES // 10)
    root = write_module(tmp_path, {"01-enorme.md": GOOD_LESSON.replace("Texto con", body + "\n\nTexto con")})
    assert check(root) == 1
    assert "01-prueba/01-enorme pesa" in capsys.readouterr().err


def test_raw_html_in_a_lesson_is_shown_as_text_never_run(tmp_path):
    root = write_module(tmp_path, {"01-html.md": GOOD_LESSON.replace("Texto con", "<script>alert(1)</script> Texto con")})
    lesson = load_catalogue(root)[0].lessons[0]
    assert "<script>" not in lesson.html and "&lt;script&gt;" in lesson.html


def test_grading_counts_a_missing_answer_as_wrong():
    lesson = load_catalogue()[0].lessons[0]
    right = [q.answer for q in lesson.questions]
    assert grade(lesson, right) == [True] * len(right)
    assert grade(lesson, right[:-1]) == [True] * (len(right) - 1) + [False]


def test_every_lesson_linked_from_a_page_exists():
    """Pages link the right lesson where people need it (the product form links the photo lesson,
    the advance offer links pronto pago); renaming a lesson file must not leave a dead link."""
    from gateway.training.lessons import lesson_by_key
    from gateway.web.templating import HERE

    linked = set()
    for template in (HERE / "templates").rglob("*.html"):
        linked |= set(re.findall(r"lesson_href\('([^']+)'\)", template.read_text(encoding="utf-8")))
    assert {"01-vender/02-publicar-producto", "02-entregar-y-cobrar/02-pronto-pago"} <= linked
    for key in linked:
        assert lesson_by_key(key) is not None, key
