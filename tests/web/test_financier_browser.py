"""The financier's pages in a real headless Chromium on a 360 px phone, against the whole platform:
she creates an advance policy, adds the settlor's money to the fund, a producer reads and accepts
the policy's terms on her page and asks for an advance, the financier approves and pays it out and
sees it in her portfolio as due. Screenshots go to test-artifacts/web/."""

import re
import uuid
from decimal import Decimal

from tests.web.conftest import accessible, shot
from tests.web.test_browser import fits_the_phone, log_in
from tests.web.test_pages import producer_one_is_owed


def weight(page) -> int:
    """Bytes of the page and everything it loaded (bodies as sent), cached or not."""
    return page.evaluate("""() => performance.getEntriesByType('navigation')
        .concat(performance.getEntriesByType('resource'))
        .reduce((sum, e) => sum + (e.encodedBodySize || 0) + 300, 0)""")


def money(text: str) -> Decimal:
    """ "Bs 1.234,50" as 1234.50."""
    return Decimal(re.search(r"Bs ([\d.]+,\d{2})", text).group(1).replace(".", "").replace(",", "."))


def test_financier_creates_a_policy_adds_money_approves_an_advance_and_sees_it_in_the_portfolio(phone, platform):
    owed = producer_one_is_owed(platform)
    base, name = platform.url, f"Fideicomiso prueba {uuid.uuid4().hex[:6]}"

    log_in(phone, base, "financiera")
    phone.goto(base + "/financiador/politicas")
    form = phone.locator("#nueva-politica")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=rate]").fill("80")
    form.locator("select[name=fee_kind]").select_option("percent")
    form.locator("input[name=fee_value]").fill("1,5")
    form.locator("input[name=min_amount]").fill("10,00")
    form.locator("input[name=max_amount]").fill("5.000,00")
    form.locator("input[name=producer_limit]").fill("10.000,00")
    form.locator("input[name=auto_approve_up_to]").fill("")  # every request waits for her decision
    form.locator("button[type=submit]").click()
    phone.wait_for_load_state()
    assert f"Política «{name}» creada (versión 1)." in phone.inner_text("main")
    policy = phone.locator("section.policy", has_text=name)
    assert "Costo administrativo: 1,5 % del adelanto" in policy.inner_text()
    fits_the_phone(phone)
    assert weight(phone) < 150 * 1024
    shot(phone, "financiador-01-politicas")
    accessible(phone, "financiador-01-politicas")

    phone.goto(base + "/financiador/fondos")
    fund = phone.locator("section.fund").first
    before = money(fund.locator(".money-in").inner_text())
    fund.locator("input[name=value]").fill("1.000,00")
    fund.locator("input[name=note]").fill("Aporte del fideicomitente")
    fund.locator("button[type=submit]").click()
    phone.wait_for_load_state()
    assert "Aporte registrado en el fondo." in phone.inner_text("main")
    assert money(phone.locator("section.fund").first.locator(".money-in").inner_text()) == before + 1000
    fits_the_phone(phone)
    shot(phone, "financiador-02-fondos")
    accessible(phone, "financiador-02-fondos")

    # the producer reads the new policy's terms on her page, accepts them and asks
    phone.context.clear_cookies()
    log_in(phone, base, "productor1")
    terms = phone.locator("section.terms", has_text=name)
    assert "Costo administrativo: 1,5 % del adelanto" in terms.inner_text()
    terms.locator("button").click()
    phone.wait_for_load_state()
    assert "Condiciones aceptadas (versión 1" in phone.inner_text("main")
    assert Decimal(owed["eligible_value"]) * Decimal("0.8") >= Decimal("12.34")
    phone.fill("input[name=amount]", "12,34")
    phone.click("form[action='/productor/adelanto/oferta'] button")  # the offer first: amount, fee, date
    phone.wait_for_load_state()
    phone.click("form[action='/productor/adelanto'] button")  # then she confirms it
    phone.wait_for_load_state()
    assert "Solicitud de pronto pago enviada." in phone.inner_text("main")

    phone.context.clear_cookies()
    log_in(phone, base, "financiera")
    pending = phone.locator("#pending li", has_text="productor 1 · Bs 12,34").last
    advance_id = re.search(r"Adelanto #(\d+)", pending.inner_text()).group(1)
    assert "Condiciones aceptadas: versión 1, 1,5 % del adelanto" in pending.inner_text()
    fits_the_phone(phone)
    shot(phone, "financiador-03-solicitudes")
    accessible(phone, "financiador-03-solicitudes")
    pending.locator("button", has_text="Aprobar").click()
    phone.wait_for_load_state()
    assert f"Adelanto {advance_id} aprobado." in phone.inner_text("main")
    phone.locator(f"form[action='/financiador/adelantos/{advance_id}/disburse'] button").click()
    phone.wait_for_load_state()
    assert f"Adelanto {advance_id} desembolsado." in phone.inner_text("main")
    due = phone.inner_text("#due")
    assert f"#{advance_id}" in due
    fits_the_phone(phone)
    assert weight(phone) < 150 * 1024
    shot(phone, "financiador-04-cartera")
    accessible(phone, "financiador-04-cartera")

    # a change of terms is a new version, the old one kept; retiring ends the policy, history stays
    phone.goto(base + "/financiador/politicas")
    policy = phone.locator("section.policy", has_text=name)
    policy.locator("summary", has_text="Cambiar condiciones").click()
    policy.locator("input[name=fee_value]").fill("2")
    policy.locator("button", has_text="Guardar como versión 2").click()
    phone.wait_for_load_state()
    assert "pasa a la versión 2" in phone.inner_text("main")
    policy = phone.locator("section.policy", has_text=name)
    policy.locator("summary", has_text="Historial").click()
    history = policy.locator("details li").all_inner_texts()
    assert [h.split(":")[0] for h in history] == ["Versión 2", "Versión 1"]
    assert "costo 1,5 % del adelanto" in history[1] and "hasta el" in history[1]
    accessible(phone, "financiador-05-versiones")
    policy.locator("button", has_text="Retirar política").click()
    phone.wait_for_load_state()
    assert f"Política «{name}» retirada" in phone.inner_text("main")
    assert "retirada" in phone.locator("section.policy", has_text=name).locator("h2").inner_text()

    # the same pages on a desk's screen, for the artifacts
    phone.set_viewport_size({"width": 1280, "height": 900})
    for path, name in (("/financiador", "cartera"), ("/financiador/politicas", "politicas"),
                       ("/financiador/fondos", "fondos")):
        phone.goto(base + path)
        shot(phone, f"financiador-1280-{name}")
