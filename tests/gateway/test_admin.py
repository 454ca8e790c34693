"""Demo data never reaches production, and the first administrator is made at the console."""

import pytest

from gateway.admin import AdminCommandError, create_admin, main, read_password
from infra import demo
from services.common.migrations import upgrade
from tests.conftest import service_settings, transactional_database
from tests.gateway.conftest import CHEAP_HASHING, running_gateway


def test_the_demo_world_with_its_published_password_is_never_loaded_in_production(monkeypatch, capsys):
    monkeypatch.setenv("MC_ENV", "production")
    loaded = []
    monkeypatch.setattr(demo, "load", lambda *a, **kw: loaded.append(a))
    assert demo.main([]) == 2
    assert loaded == []
    assert "create-admin" in capsys.readouterr().err


async def test_the_first_administrator_is_created_at_the_console_and_logs_in(migrated, keys):
    url = migrated.url("gateway", "sqlite")
    async with transactional_database(url) as db:
        settings = service_settings("gateway", url, **CHEAP_HASHING)
        account = await create_admin(db=db, settings=settings, name="Administración", email="Jefa@Municipio.bo",
                                     password="una clave bien larga")
        assert account.role == "admin" and account.email == "jefa@municipio.bo"
        with pytest.raises(AdminCommandError, match="already exists"):
            await create_admin(db=db, settings=settings, name="Otra", email="jefa@municipio.bo",
                               password="otra clave bien larga")
        with pytest.raises(AdminCommandError, match="12 characters"):
            await create_admin(db=db, settings=settings, name="Otra", email="otra@municipio.bo", password="corta")
        async with running_gateway(migrated, "sqlite", keys, database=db) as gw, gw.client() as client:
            r = await client.post("/api/auth/login", json={"login": "jefa@municipio.bo",
                                                          "password": "una clave bien larga"})
            assert r.status_code == 200
            assert keys.verifier.verify(r.json()["access_token"]).role == "admin"


def test_create_admin_takes_the_password_from_the_environment(tmp_path, monkeypatch, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    upgrade("gateway", url)
    monkeypatch.setenv("MC_ADMIN_PASSWORD", "una clave bien larga")
    settings = service_settings("gateway", url, **CHEAP_HASHING)
    assert main(["create-admin", "--phone", "71234567"], settings=settings) == 0
    assert "+59171234567" in capsys.readouterr().out
    assert main(["create-admin", "--phone", "+591 71234567"], settings=settings) == 2


def test_without_a_terminal_or_the_variable_the_password_is_not_guessed(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(AdminCommandError, match="MC_ADMIN_PASSWORD"):
        read_password(environ={})
