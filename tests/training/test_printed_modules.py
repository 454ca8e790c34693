"""Each module prints as a PDF for in-person workshops: its lessons, its questions with boxes to
tick, and the answers for whoever leads the workshop. The first page of each is saved as a PNG
under test-artifacts/training/ (poppler's pdftoppm, Debian package poppler-utils)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.training.lessons import catalogue
from gateway.training.pdf import module_pdf

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "training"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        reason = f"{tool} is not installed (Debian package poppler-utils)"
        if IN_CI:
            pytest.fail(reason + " (CI=true: the printed modules must be checked)")
        pytest.skip(reason)
    return path


@pytest.mark.parametrize("module", catalogue(), ids=lambda m: m.slug)
def test_module_prints_with_every_lesson_question_and_the_answers(module, tmp_path):
    pdf = module_pdf(module)
    assert pdf.startswith(b"%PDF")
    path = tmp_path / f"{module.slug}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([poppler("pdftotext"), "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = " ".join(text.split())
    assert module.title in flat
    for lesson in module.lessons:
        assert lesson.title.split(":")[0] in flat
        for question in lesson.questions:
            assert question.text[:40] in flat
    assert "Respuestas (para quien dirige el taller)" in flat
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([poppler("pdftoppm"), "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(path),
                    str(ARTIFACTS / module.slug)], check=True)
    assert (ARTIFACTS / f"{module.slug}.png").stat().st_size > 1000
