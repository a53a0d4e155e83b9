"""A comment with markup is shown as text everywhere and never runs."""

from __future__ import annotations

from .conftest import XSS, as_user


def _inert(page) -> None:
    assert page.evaluate("window.__xss === undefined")


def test_comment_is_text_on_the_ratings_page(page, site):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    as_user(page, site, "sup")
    page.goto(f"{site.url}/ratings?section=综合服务区&satisfaction=1")
    row = page.locator(f"#ratings tr[data-id='{site.data.xss_rating_id}']")
    assert row.locator(".comment").inner_text() == XSS
    assert row.locator(".comment script, .comment img").count() == 0
    _inert(page)
    assert dialogs == []


def test_comment_is_text_on_the_case_page(page, site):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    as_user(page, site, "sup")
    case = site.case_for(site.data.xss_rating_id)
    page.goto(f"{site.url}/cases/{case['id']}")
    assert page.locator("#comment").inner_text() == XSS
    assert page.locator("#comment *").count() == 0
    _inert(page)
    assert dialogs == []
    # a note with markup stays text too
    page.locator("#act-verified textarea").fill("<b>bold</b><script>window.__xss=3</script>")
    page.locator("#act-verified button").click()
    page.wait_for_load_state()
    assert page.locator("#history li[data-to=verified] .note").inner_text() == \
        "<b>bold</b><script>window.__xss=3</script>"
    assert page.locator("#history b, #history script").count() == 0
    _inert(page)
    assert dialogs == []


def test_markup_is_escaped_in_the_html(site):
    html = site.session("sup").get(f"{site.url}/ratings?satisfaction=1").text
    assert "&lt;script&gt;window.__xss=1" in html
    assert "<script>window.__xss" not in html
    assert "<img src=x" not in html
