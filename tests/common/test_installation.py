"""The installation name that keeps two installations apart on one NATS server."""

from services.common.settings import installation_name
from services.payments.settings import Settings


def test_installation_without_a_name_keeps_one_generated_id_for_every_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MC_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("MC_INSTALLATION", raising=False)
    first = installation_name()
    assert first == installation_name() == (tmp_path / "installation").read_text().strip()
    monkeypatch.setenv("MC_VAR_DIR", str(tmp_path / "another-machine"))
    assert installation_name() != first


def test_event_names_carry_the_installation_name(monkeypatch):
    monkeypatch.setenv("MC_INSTALLATION", " Feria Sucre.2 ")
    monkeypatch.delenv("EVENTS_STREAM", raising=False)
    monkeypatch.delenv("EVENTS_SUBJECT_PREFIX", raising=False)
    monkeypatch.delenv("EVENTS_DURABLE_PREFIX", raising=False)
    stream, prefix, durable = Settings().event_names("payments")
    assert (stream, prefix, durable) == ("MERCADO_feria-sucre-2", "mercado.feria-sucre-2.events",
                                         "feria-sucre-2_payments")
