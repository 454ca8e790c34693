"""Capacitación: short Spanish lessons kept as Markdown in `lessons/`, their quizzes, each account's
progress, and the completion views of organizations and municipalities."""
