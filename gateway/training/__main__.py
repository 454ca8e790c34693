"""`python -m gateway.training check`: refuses (exit 1, naming the file) a lesson that cannot be
published: bad front matter, fewer than 2 or more than 4 questions, a question without its right
answer, or a rendered page over the size budget. Run it after adding or correcting a lesson."""

import sys
from pathlib import Path

from gateway.training.lessons import LESSONS_DIR, MAX_LESSON_BYTES, LessonError, load_catalogue


def check(root: Path = LESSONS_DIR) -> int:
    try:
        modules = load_catalogue(root)
    except LessonError as exc:
        print(f"lección rechazada: {exc}", file=sys.stderr)
        return 1
    status = 0
    for module in modules:
        for lesson in module.lessons:
            size = len(lesson.html.encode())
            if size > MAX_LESSON_BYTES:
                print(f"lección rechazada: {lesson.key} pesa {size} bytes (máximo {MAX_LESSON_BYTES})",
                      file=sys.stderr)
                status = 1
            else:
                print(f"{lesson.key}: {len(lesson.questions)} preguntas, {size} bytes")
    return status


if __name__ == "__main__":
    if sys.argv[1:] != ["check"]:
        print("uso: python -m gateway.training check", file=sys.stderr)
        sys.exit(2)
    sys.exit(check())
