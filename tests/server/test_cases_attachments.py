"""Case attachments (docs/api.md): accepted types with their magic bytes, the
10 MiB limit, storage under a generated id, downloads only for logged-in
users and always as ``Content-Disposition: attachment``."""

from __future__ import annotations

import hashlib

import pytest
import requests

from central import attachments

from .test_cases import PDF, People, new_case

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture(scope="module")
def people(api) -> People:
    return People(api)


def _upload(api, people, cid, data, ctype, name="file", who="a"):
    headers = {**people.headers[who], "Content-Type": ctype} if who else {"Content-Type": ctype}
    return api.http.post(api.url + f"/api/v1/cases/{cid}/attachments", params={"name": name}, data=data,
                         headers=headers, timeout=60)


@pytest.mark.parametrize(("data", "ctype", "name", "shown"), [
    (PDF, "application/pdf", "限期整改报告", "限期整改报告.pdf"),
    (PNG, "image/png", "../../etc/passwd", "passwd.png"),
    (JPEG, "image/jpeg; charset=binary", "整改后.JPG", "整改后.JPG"),
])
def test_accepted_types_are_stored_and_listed(api, people, data, ctype, name, shown):
    cid = new_case(api, people)
    r = _upload(api, people, cid, data, ctype, name)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == shown
    listed = api.get(f"/api/v1/cases/{cid}", role="viewer").json()["attachments"]
    assert [(a["id"], a["name"], a["size"], a["sha256"]) for a in listed] == \
        [(r.json()["id"], shown, len(data), hashlib.sha256(data).hexdigest())]


@pytest.mark.parametrize(("data", "ctype", "status", "words"), [
    (PDF, "text/html", 415, "not accepted"),
    (PDF, "", 415, "not accepted"),
    (b"<html><script>alert(1)</script>", "image/png", 415, "signature"),
    (PNG, "application/pdf", 415, "signature"),
    (b"", "application/pdf", 400, "empty"),
])
def test_wrong_types_and_bytes_are_refused(api, people, data, ctype, status, words):
    cid = new_case(api, people)
    r = _upload(api, people, cid, data, ctype)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert api.get(f"/api/v1/cases/{cid}", role="viewer").json()["attachments"] == []


def test_size_limit(api, people):
    cid = new_case(api, people)
    exact = b"%PDF-" + b"0" * (attachments.MAX_BYTES - 5)
    assert _upload(api, people, cid, exact, "application/pdf").status_code == 201
    r = _upload(api, people, cid, exact + b"0", "application/pdf")
    assert r.status_code == 413 and "10 MiB" in r.json()["error"]

    def chunks():  # no Content-Length: the server counts as it reads
        yield b"%PDF-"
        for _ in range(11):
            yield b"0" * (1024 * 1024)
    r = api.http.post(api.url + f"/api/v1/cases/{cid}/attachments", data=chunks(),
                      headers={**people.headers["a"], "Content-Type": "application/pdf"}, timeout=60)
    assert r.status_code == 413
    assert len(api.get(f"/api/v1/cases/{cid}", role="viewer").json()["attachments"]) == 1


def test_access_and_download_headers(api, people):
    cid = new_case(api, people)
    other = new_case(api, people)
    att = _upload(api, people, cid, PDF, "application/pdf", "整改报告.pdf").json()["id"]
    url = api.url + f"/api/v1/cases/{cid}/attachments/{att}"
    assert requests.get(url, timeout=10).status_code == 401  # not logged in
    assert _upload(api, people, cid, PDF, "application/pdf", who=None).status_code == 401
    assert _upload(api, people, cid, PDF, "application/pdf", who="viewer").status_code == 403
    r = api.http.get(url, headers=people.headers["viewer"], timeout=10)
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith('attachment; filename="')
    assert "filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A.pdf" in r.headers["content-disposition"]
    assert r.headers["x-content-type-options"] == "nosniff"
    # an attachment is reached only through its own case
    assert api.http.get(api.url + f"/api/v1/cases/{other}/attachments/{att}", headers=people.headers["viewer"],
                        timeout=10).status_code == 404
    assert _upload(api, people, 999_999, PDF, "application/pdf").status_code == 404


def test_names_never_become_paths():
    assert attachments.clean_name("..\\..\\a/b/c.pdf", "application/pdf") == "c.pdf"
    assert attachments.clean_name("\x00\x1b[31m报告", "application/pdf") == "[31m报告.pdf"
    assert attachments.clean_name("...", "image/png") == "attachment.png"
    assert attachments.clean_name("x" * 500, "image/jpeg") == "x" * 120 + ".jpg"
