"""Bad input answers 4xx, never 500 (issue 8): ids beyond the database's INTEGER, NUL characters,
non-ASCII digits, JSON nested too deeply, date-times that overflow in UTC, over-long texts and
bodies. Each of these was a 500 on SQLite or PostgreSQL (the `database_url` fixture runs both)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import factories
from tests.web.pages.helpers import csrf_token, page_login
from web.common.activities import DESCRIPTION_MAX


@pytest.fixture
def school(db):
    inst = factories.institution(db)
    teacher = factories.user(db, inst, "teacher")
    school_class, _ = factories.school_class(db, teacher, students=2)
    admin = factories.user(db, inst, "admin")
    db.commit()
    return {"teacher": teacher, "class": school_class, "admin": admin}


@pytest.fixture
def teacher_headers(client, school):
    return factories.login(client, school["teacher"])


def _error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body is not None and "error" in body
    if field is not None:
        assert body.get("field") == field, body
    return body


# ---- item 9: ids above 2^31-1 ----

@pytest.mark.parametrize("path", ["/api/classes/2147483648", "/api/classes/99999999999999999999/students",
                                  "/api/classes/2147483648/activities", "/api/activities/2147483648"])
def test_ids_the_database_cannot_hold_are_not_found(client, teacher_headers, path):
    _error(client.get(path, headers=teacher_headers), 404)


def test_non_ascii_digits_in_a_route_are_no_id(client, teacher_headers, school):
    arabic = str(school["class"].id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert client.get(f"/api/classes/{school['class'].id}", headers=teacher_headers).status_code == 200
    _error(client.get(f"/api/classes/{arabic}", headers=teacher_headers), 404)


def test_the_largest_id_is_still_an_id(client, teacher_headers):
    _error(client.get("/api/classes/2147483647", headers=teacher_headers), 404)
    assert client.post("/api/notifications/2147483648/read", headers=teacher_headers).status_code == 404
    assert client.post("/api/notifications/2147483647/read", headers=teacher_headers).status_code == 404


@pytest.mark.parametrize("class_id", [2147483648, 2**64])
def test_json_ids_out_of_range_are_bad_input(client, teacher_headers, class_id):
    response = client.post("/api/reports", headers=teacher_headers,
                           json={"kind": "class_roster", "class_id": class_id, "format": "csv"})
    _error(response, 400, "class_id")


def test_an_integral_number_is_an_id_too(client, teacher_headers, school):
    response = client.post("/api/reports", headers=teacher_headers,
                           json={"kind": "class_roster", "class_id": float(school["class"].id), "format": "csv"})
    assert response.status_code == 202, response.get_json()


def test_page_ids_beyond_the_database_are_a_404_page(client, school):
    page_login(client, school["teacher"])
    response = client.get("/teacher/classes/2147483648")
    assert response.status_code == 404 and response.mimetype == "text/html"


# ---- item 10: NUL characters ----

def test_nul_in_a_query_string_is_a_400_naming_it(client, teacher_headers, school):
    _error(client.get(f"/api/classes/{school['class'].id}/students?q=a%00b", headers=teacher_headers), 400, "q")
    _error(client.get("/api/classes?page=1%00", headers=teacher_headers), 400, "page")


def test_nul_in_the_login_email_is_a_400_naming_it(client, school):
    _error(client.post("/api/login", json={"email": "teacher\x00@example.test", "password": "x"}), 400, "email")


def test_nul_in_a_title_or_anywhere_in_a_json_body_is_a_400_naming_it(client, teacher_headers, school):
    url = f"/api/classes/{school['class'].id}/activities"
    _error(client.post(url, headers=teacher_headers, json={"title": "Lista\x00"}), 400, "title")
    _error(client.post(url, headers=teacher_headers, json={"title": "Lista", "tags": [{"x": "\x00"}]}), 400,
           "tags[0].x")


def test_nul_in_a_page_form_is_a_400_page(client, school):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": "a\x00@example.test", "password": "x", "csrf_token": token})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert b"must not contain NUL" in response.data


def _multipart(*parts: bytes) -> bytes:
    return b"".join(b"--x\r\n" + part + b"\r\n" for part in parts) + b"--x--\r\n"


@pytest.mark.parametrize("part", [
    # found by a fuzzer: a part naming no field was a TypeError in unsafe_input, a 500
    b'Content-Disposition: form-data\r\n\r\nv',
    b'Content-Disposition: form-data; filename="roster.csv"\r\nContent-Type: text/csv\r\n\r\nname,email',
])
def test_a_multipart_part_without_a_field_name_is_a_400(client, teacher_headers, school, part):
    body = _multipart(part)
    for path in (f"/api/classes/{school['class'].id}/roster-imports", f"/api/classes/{school['class'].id}/activities"):
        _error(client.post(path, headers=teacher_headers, data=body,
                           content_type="multipart/form-data; boundary=x"), 400, "form")


def test_a_multipart_part_without_a_field_name_on_a_page_is_a_400_page(client, school):
    page_login(client, school["teacher"])
    response = client.post(f"/classes/{school['class'].id}/roster", data=_multipart(b'Content-Disposition: form-data\r\n\r\nv'),
                           content_type="multipart/form-data; boundary=x")
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_nul_in_an_uploaded_file_name_is_a_400_naming_the_field(client, teacher_headers, school):
    body = _multipart(b'Content-Disposition: form-data; name="file"; filename="a\x00.csv"\r\n\r\nname,email')
    _error(client.post(f"/api/classes/{school['class'].id}/roster-imports", headers=teacher_headers, data=body,
                       content_type="multipart/form-data; boundary=x"), 400, "file")


# ---- item 11: non-ASCII digits ----

@pytest.mark.parametrize("query", ["page=²", "size=²", "page=٣"])
def test_non_ascii_digits_in_page_and_size_are_a_400(client, teacher_headers, query):
    _error(client.get(f"/api/classes?{query}", headers=teacher_headers), 400, query.split("=")[0])
    _error(client.get(f"/api/jobs?{query}", headers=teacher_headers), 400, query.split("=")[0])


def test_non_ascii_digits_on_a_page_are_a_400_page(client, school):
    page_login(client, school["teacher"])
    response = client.get("/teacher/classes?page=²")
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_the_seed_form_refuses_non_ascii_digits(client, school):
    page_login(client, school["admin"])
    token = csrf_token(client, "/admin")
    response = client.post("/admin/seeds", data={"csrf_token": token, "name": "Escola", "slug": "escola-x",
                                                 "students": "²", "initial_password": "a-long-password"})
    assert response.status_code == 400 and b"whole number" in response.data


# ---- item 12: deep JSON ----

def test_json_nested_100000_levels_deep_is_a_400(client, teacher_headers, school):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/reports", headers={**teacher_headers, "Content-Type": "application/json"},
                           data=body)
    _error(response, 400)
    response = client.post("/api/login", headers={"Content-Type": "application/json"},
                           data='{"email": ' + "{\"a\": " * 100_000 + "1" + "}" * 100_000 + "}")
    _error(response, 400)


# ---- item 13: date-times out of range ----

@pytest.mark.parametrize("due_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-13-01T00:00:00Z",
                                    "2026-12-01T23:59:00", 20261201])
def test_due_dates_that_cannot_be_stored_are_a_400_naming_the_field(client, teacher_headers, school, due_at):
    url = f"/api/classes/{school['class'].id}/activities"
    _error(client.post(url, headers=teacher_headers, json={"title": "Lista", "due_at": due_at}), 400, "due_at")


# ---- item 6: text and body limits ----

def test_titles_and_descriptions_are_capped_with_a_400_naming_the_field(client, teacher_headers, school):
    url = f"/api/classes/{school['class'].id}/activities"
    _error(client.post(url, headers=teacher_headers, json={"title": "x" * 201}), 400, "title")
    _error(client.post(url, headers=teacher_headers,
                       json={"title": "Lista", "description": "x" * (DESCRIPTION_MAX + 1)}), 400, "description")
    ok = client.post(url, headers=teacher_headers, json={"title": "x" * 200, "description": "é" * DESCRIPTION_MAX})
    assert ok.status_code == 202, ok.get_json()


def test_the_publish_form_caps_the_description_too(client, school):
    page_login(client, school["teacher"])
    url = f"/teacher/classes/{school['class'].id}/activities/new"
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "title": "Lista", "description": "x" * (DESCRIPTION_MAX + 1),
                                      "due_at": ""})
    assert response.status_code == 400 and b"20,000" in response.data


def test_a_body_over_the_limit_is_a_413_in_json_for_the_api_and_html_for_pages(client, teacher_headers, school):
    big = "x" * (1024 * 1024 + 1)
    url = f"/api/classes/{school['class'].id}/activities"
    response = client.post(url, headers={**teacher_headers, "Content-Type": "application/json"},
                           data='{"title": "' + big + '"}')
    _error(response, 413)
    page = client.post("/login", data={"email": "a@example.test", "password": big})
    assert page.status_code == 413 and page.mimetype == "text/html" and b"<main" in page.data


# ---- item 8: clickjacking, sniffing, referrers, content security policy ----

EXPECTED_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'")


@pytest.mark.parametrize("path", ["/login", "/api/openapi.json", "/no-such-page", "/healthz"])
def test_every_response_carries_the_browser_protections(client, path):
    headers = client.get(path).headers
    assert headers["Content-Security-Policy"] == EXPECTED_CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


TEMPLATES = sorted((Path(__file__).resolve().parents[2] / "web" / "templates").rglob("*.html"))
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL | re.IGNORECASE)
HANDLER = re.compile(r"<[^>]*\s(on[a-z]+)\s*=", re.IGNORECASE)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_template_has_inline_script_style_or_event_handlers(template):
    """The CSP allows only the app's own files: an inline script, a <style> block, a style=""
    attribute, an onclick= handler or a javascript: URL would simply not work in the browser."""
    html = template.read_text(encoding="utf-8")
    for attributes, body in SCRIPT.findall(html):
        assert "src=" in attributes and not body.strip(), f"inline <script> in {template.name}"
    assert not HANDLER.search(html), f"inline event handler in {template.name}: {HANDLER.search(html).group(1)}"
    assert not re.search(r"<style\b|\sstyle\s*=", html, re.IGNORECASE), f"inline style in {template.name}"
    assert "javascript:" not in html.lower(), f"javascript: URL in {template.name}"


# ---- item 24: pages get HTML error pages, the API and /healthz JSON ----

def test_an_unknown_page_is_an_html_404_in_the_layout_and_the_api_stays_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert b'<main id="main"' in page.data and b"There is no such page." in page.data
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.mimetype == "application/json" and "error" in api.get_json()
    health = client.get("/healthz")
    assert health.mimetype == "application/json"


def test_a_wrong_method_is_a_405_with_allow_as_a_page_and_in_json(client):
    page = client.post("/teacher/classes")
    assert page.status_code == 405 and page.mimetype == "text/html" and "GET" in page.headers["Allow"]
    api = client.delete("/api/classes")
    assert api.status_code == 405 and api.mimetype == "application/json" and "GET" in api.headers["Allow"]


def test_a_failure_is_an_html_500_page_for_pages_and_json_for_the_api(web_app):
    def boom():
        raise RuntimeError("boom")

    web_app.add_url_rule("/boom", "boom_page", boom)
    web_app.add_url_rule("/api/boom", "boom_api", boom)
    client = web_app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500 and page.mimetype == "text/html" and b'<main id="main"' in page.data
    api = client.get("/api/boom")
    assert api.status_code == 500 and api.get_json() == {"error": "internal error"}


def test_unknown_fields_in_a_body_are_a_400_naming_them(client, teacher_headers, school):
    typo = {"kind": "class_roster", "clas_id": school["class"].id, "format": "csv"}
    _error(client.post("/api/reports", headers=teacher_headers, json=typo), 400, "clas_id")
    _error(client.post("/api/login", json={"email": "a@example.test", "password": "x", "remember": True}), 400,
           "remember")
    url = f"/api/classes/{school['class'].id}/activities"
    _error(client.post(url, headers=teacher_headers, json={"title": "Lista", "due": "2026-12-01T00:00:00Z"}), 400,
           "due")


@pytest.mark.parametrize("query, field", [("/api/classes?page=", "page"), ("/api/jobs?size=", "size"),
                                          ("/api/jobs?state=", "state"), ("/api/notifications?unread=TRUE", "unread"),
                                          ("/api/notifications?unread=%201", "unread")])
def test_query_values_are_exactly_what_the_document_allows(client, teacher_headers, query, field):
    _error(client.get(query, headers=teacher_headers), 400, field)


def test_the_protections_are_on_polls_refusals_and_not_modified_answers(client, db, school, teacher_headers):
    from core.jobs.outbox import new_job

    job = new_job(db, "report", {"kind": "class_roster", "class_id": school["class"].id, "format": "csv"},
                  owner_id=school["teacher"].id)
    db.commit()
    ok = client.get(f"/api/jobs/{job.id}", headers=teacher_headers)
    responses = [ok, client.get(f"/api/jobs/{job.id}", headers={**teacher_headers, "If-None-Match": ok.headers["ETag"]}),
                 client.get(f"/api/jobs/{job.id}"), client.get("/api/jobs/not-a-job", headers=teacher_headers)]
    assert [r.status_code for r in responses] == [200, 304, 401, 404]
    for response in responses:
        assert response.headers["Content-Security-Policy"] == EXPECTED_CSP
        assert response.headers["X-Frame-Options"] == "DENY"
        assert len(response.headers.getlist("X-Content-Type-Options")) == 1


def test_a_response_keeps_a_protection_header_it_sets_itself():
    from web.hardening import _with_security_headers

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("x-frame-options", "SAMEORIGIN")])
        return [b"ok"]

    sent = {}
    body = _with_security_headers(app)({}, lambda status, headers, exc_info=None: sent.update(headers=headers))
    assert list(body) == [b"ok"]
    names = [name.lower() for name, _ in sent["headers"]]
    assert names.count("x-frame-options") == 1 and ("x-frame-options", "SAMEORIGIN") in sent["headers"]
    assert dict(sent["headers"])["Content-Security-Policy"] == EXPECTED_CSP
    assert names.count("referrer-policy") == 1
