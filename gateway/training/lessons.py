"""The training modules ("Capacitación"): short Spanish lessons kept as Markdown files in
`gateway/training/lessons/<module>/`, so a lesson is added or corrected by editing a file.

A module folder holds `modulo.md` (front matter: title, audience, order; then a one-paragraph
summary) and one file per lesson: front matter (title, audience, minutes, order), the text, and a
last section `## Preguntas` where each `### question` is followed by its choices, `- [x]` for the
right one and `- [ ]` for the others. `check_catalogue()` refuses a lesson without 2–4 valid
questions or over its size budget; the test suite runs it on every lesson.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt

LESSONS_DIR = Path(__file__).parent / "lessons"
AUDIENCES = {"productor": "Productoras y productores", "organizacion": "Organizaciones",
             "consumidor": "Familias que compran"}
# which audiences each account role is shown first
ROLE_AUDIENCES = {"producer": ("productor",), "organization": ("organizacion", "productor"),
                  "consumer": ("consumidor",)}
MAX_LESSON_BYTES = 100_000  # the rendered page, images included, must stay under this
MIN_QUESTIONS, MAX_QUESTIONS = 2, 4
QUESTIONS_HEADING = "## Preguntas"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# raw HTML in a lesson is shown as text, never run: lessons are content, not code
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


class LessonError(ValueError):
    """A lesson file that cannot be published as it is; the message says which file and why."""


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    answer: int  # index of the right choice


@dataclass(frozen=True)
class Lesson:
    module: str
    slug: str
    title: str
    audience: str
    minutes: int
    order: int
    body_markdown: str
    questions: tuple[Question, ...]

    @property
    def key(self) -> str:
        return f"{self.module}/{self.slug}"

    @property
    def html(self) -> str:
        return _render(self.body_markdown)


@dataclass(frozen=True)
class Module:
    slug: str
    title: str
    audience: str
    order: int
    summary: str
    lessons: tuple[Lesson, ...] = field(default=())

    def lesson(self, slug: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.slug == slug), None)

    def next_after(self, lesson: Lesson) -> Lesson | None:
        keys = [item.slug for item in self.lessons]
        index = keys.index(lesson.slug)
        return self.lessons[index + 1] if index + 1 < len(self.lessons) else None


@lru_cache(maxsize=256)
def _render(text: str) -> str:
    return _markdown.render(text)


def split_front_matter(text: str, path: Path) -> tuple[dict[str, str], str]:
    """`---` lines around `key: value` pairs, then the body."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise LessonError(f"{path}: falta el encabezado entre líneas '---' (title, audience, ...)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise LessonError(f"{path}: el encabezado no se cierra con '---'") from None
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise LessonError(f"{path}: línea de encabezado sin ':': {line!r}")
        meta[key.strip()] = value.strip()
    return meta, "\n".join(lines[end + 1:]).strip() + "\n"


def parse_questions(text: str, path: Path) -> tuple[Question, ...]:
    questions: list[Question] = []
    current: str | None = None
    choices: list[str] = []
    answer: int | None = None

    def close() -> None:
        if current is None:
            return
        if len(choices) < 2:
            raise LessonError(f"{path}: la pregunta «{current}» necesita al menos dos opciones")
        if answer is None:
            raise LessonError(f"{path}: la pregunta «{current}» no marca la respuesta correcta con [x]")
        questions.append(Question(current, tuple(choices), answer))

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("### "):
            close()
            current, choices, answer = line[4:].strip(), [], None
        elif line.startswith(("- [x] ", "- [X] ", "- [ ] ")):
            if current is None:
                raise LessonError(f"{path}: una opción aparece antes de su pregunta")
            if line[3].lower() == "x":
                if answer is not None:
                    raise LessonError(f"{path}: la pregunta «{current}» marca más de una respuesta correcta")
                answer = len(choices)
            choices.append(line[6:].strip())
        else:
            raise LessonError(f"{path}: en las preguntas solo van '### pregunta' y opciones '- [x]' / '- [ ]': {line!r}")
    close()
    if not MIN_QUESTIONS <= len(questions) <= MAX_QUESTIONS:
        raise LessonError(f"{path}: una lección lleva de {MIN_QUESTIONS} a {MAX_QUESTIONS} preguntas, "
                          f"tiene {len(questions)}")
    return tuple(questions)


def _int(meta: dict[str, str], key: str, path: Path) -> int:
    try:
        return int(meta[key])
    except KeyError:
        raise LessonError(f"{path}: falta '{key}' en el encabezado") from None
    except ValueError:
        raise LessonError(f"{path}: '{key}' debe ser un número entero") from None


def _required(meta: dict[str, str], key: str, path: Path) -> str:
    value = meta.get(key, "").strip()
    if not value:
        raise LessonError(f"{path}: falta '{key}' en el encabezado")
    return value


def _audience(meta: dict[str, str], path: Path) -> str:
    audience = _required(meta, "audience", path)
    if audience not in AUDIENCES:
        raise LessonError(f"{path}: audience debe ser una de {', '.join(AUDIENCES)}")
    return audience


def load_lesson(path: Path, module: str) -> Lesson:
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path)
    text, heading, questions_text = body.partition(QUESTIONS_HEADING)
    if not heading:
        raise LessonError(f"{path}: falta la sección '{QUESTIONS_HEADING}' al final")
    return Lesson(module=module, slug=path.stem, title=_required(meta, "title", path),
                  audience=_audience(meta, path), minutes=_int(meta, "minutes", path),
                  order=_int(meta, "order", path), body_markdown=text.strip() + "\n",
                  questions=parse_questions(questions_text, path))


def load_module(folder: Path) -> Module:
    if not SLUG.match(folder.name):
        raise LessonError(f"{folder}: el nombre de la carpeta va en minúsculas, números y guiones")
    index = folder / "modulo.md"
    if not index.exists():
        raise LessonError(f"{folder}: falta modulo.md (title, audience, order y un resumen)")
    meta, summary = split_front_matter(index.read_text(encoding="utf-8"), index)
    lessons = []
    for path in sorted(folder.glob("*.md")):
        if path.name == "modulo.md":
            continue
        if not SLUG.match(path.stem):
            raise LessonError(f"{path}: el nombre del archivo va en minúsculas, números y guiones")
        lessons.append(load_lesson(path, folder.name))
    if not lessons:
        raise LessonError(f"{folder}: el módulo no tiene lecciones")
    lessons.sort(key=lambda lesson: (lesson.order, lesson.slug))
    return Module(slug=folder.name, title=_required(meta, "title", index), audience=_audience(meta, index),
                  order=_int(meta, "order", index), summary=summary.strip(), lessons=tuple(lessons))


def load_catalogue(root: Path = LESSONS_DIR) -> tuple[Module, ...]:
    """Every module under `root`, in their order; raises LessonError naming the first bad file."""
    modules = [load_module(folder) for folder in sorted(root.iterdir()) if folder.is_dir()]
    return tuple(sorted(modules, key=lambda module: (module.order, module.slug)))


@lru_cache(maxsize=1)
def catalogue() -> tuple[Module, ...]:
    """The lessons shipped with this installation, read once per process."""
    return load_catalogue()


def find(module_slug: str, lesson_slug: str | None = None) -> tuple[Module | None, Lesson | None]:
    module = next((item for item in catalogue() if item.slug == module_slug), None)
    if module is None or lesson_slug is None:
        return module, None
    return module, module.lesson(lesson_slug)


def lesson_by_key(key: str) -> Lesson | None:
    module_slug, _, lesson_slug = key.partition("/")
    return find(module_slug, lesson_slug)[1]


def lesson_href(key: str) -> str:
    """The page of a lesson named `module/lesson`, for the links pages put where people need them
    (tests check that every linked lesson exists)."""
    return f"/capacitacion/{key}"


def grade(lesson: Lesson, answers: list[int | None]) -> list[bool]:
    """Which answers are right, one per question (a missing answer is wrong)."""
    padded = list(answers) + [None] * (len(lesson.questions) - len(answers))
    return [given == question.answer for question, given in zip(lesson.questions, padded, strict=False)]
