"""The catalogue page costs little on a phone's data plan: under 150 KB transferred on first load
(HTML, stylesheet, script, icon and anything else the page pulls), and nothing from another host."""

import re
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

from tests.web.conftest import ARTIFACTS

LIMIT = 150 * 1024


class Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("rel") in ("stylesheet", "icon", "preload", "manifest"):
            self.urls.append(a["href"])
        elif tag in ("script", "img", "source", "iframe") and a.get("src"):
            self.urls.append(a["src"])


def fetch(url: str) -> tuple[int, bytes]:
    """Bytes on the wire for one response: status line and headers, plus the body as sent."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, br"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        headers = sum(len(k) + len(v) + 4 for k, v in response.getheaders()) + 20
    return headers + len(body), body


def test_catalogue_first_load_transfers_under_150_kb(platform):
    base = platform.url
    total, html = fetch(base + "/")
    parser = Assets()
    parser.feed(html.decode())
    assert parser.urls, "the page links its stylesheet"
    for url in parser.urls:
        absolute = urljoin(base + "/", url)
        assert urlparse(absolute).netloc == urlparse(base).netloc, f"{url} is not served by us"
        size, _ = fetch(absolute)
        total += size
    assert len(re.findall(rb'class="product"', html)) >= 10  # a real page of products
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "catalogue-weight.txt").write_text(f"{total} bytes\n")
    assert total < LIMIT, f"the catalogue page transfers {total} bytes"


def test_catalogue_transfers_under_150_kb_in_a_real_browser(chromium, platform):
    """What Chromium itself counts on a phone with an empty cache: every request, headers and body."""
    context = chromium.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, locale="es-BO")
    page = context.new_page()
    requests = []
    page.on("requestfinished", lambda request: requests.append(request))
    page.goto(platform.url + "/", wait_until="load")
    page.wait_for_load_state("networkidle")
    total = 0
    hosts = set()
    for request in requests:
        sizes = request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        hosts.add(urlparse(request.url).netloc)
    context.close()
    assert hosts == {urlparse(platform.url).netloc}
    assert 0 < total < LIMIT, f"Chromium transferred {total} bytes for the catalogue"


def test_every_lesson_page_transfers_under_100_kb(platform):
    """A lesson is read on costly data: each page with its stylesheet, script and images stays
    under the lessons' budget (100 KB), and everything comes from this site."""
    from gateway.training.lessons import MAX_LESSON_BYTES, catalogue

    base = platform.url
    weights = []
    for module in catalogue():
        for lesson in module.lessons:
            total, html = fetch(f"{base}/capacitacion/{module.slug}/{lesson.slug}")
            assert lesson.title.encode() in html
            parser = Assets()
            parser.feed(html.decode())
            for url in parser.urls:
                absolute = urljoin(base + "/", url)
                assert urlparse(absolute).netloc == urlparse(base).netloc, f"{url} is not served by us"
                total += fetch(absolute)[0]
            weights.append(f"{lesson.key}: {total} bytes")
            assert total < MAX_LESSON_BYTES, f"{lesson.key} transfers {total} bytes"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "lesson-weights.txt").write_text("\n".join(weights) + "\n")
