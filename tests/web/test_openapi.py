"""GET /api/openapi.json: a valid OpenAPI 3.1 document that describes exactly the app's /api
routes (every path and method, no more, no less), so the document and the code cannot drift."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from web.api.openapi import SPEC_PATH

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
FLASK_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-z_][a-z0-9_]*)>")


def _api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = FLASK_PARAM.sub(r"{\1}", rule.rule)  # /api/jobs/<job_id> -> /api/jobs/{job_id}
        routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def _documented(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_the_served_document_is_a_valid_openapi_3_1_document(document):
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises OpenAPIValidationError with the path at fault


def test_the_file_itself_is_valid_too():
    spec, base_uri = read_from_filename(str(SPEC_PATH))
    validate(spec, base_uri=base_uri)


def test_it_is_public_and_cacheable(client):
    response = client.get("/api/openapi.json")  # no token
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]


def test_every_registered_api_route_is_documented_and_nothing_else(web_app, document):
    routes, documented = _api_routes(web_app), _documented(document)
    assert routes - documented == set(), "routes missing from web/api/openapi.yaml"
    assert documented - routes == set(), "documented in web/api/openapi.yaml but not registered"


def test_every_path_parameter_is_declared(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            declared = {p["name"] for p in item.get("parameters", []) + operation.get("parameters", [])
                        if "$ref" not in p}
            refs = [p["$ref"].rsplit("/", 1)[1] for p in item.get("parameters", []) + operation.get("parameters", [])
                    if "$ref" in p]
            declared |= {document["components"]["parameters"][r]["name"] for r in refs}
            assert names <= declared, (path, method, names - declared)


def test_security_schemes_are_bearer_and_cookie_and_only_login_and_the_document_are_public(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["in"] == "cookie"
    public = {(path, method) for path, item in document["paths"].items() for method, op in item.items()
              if method in HTTP_METHODS and op.get("security") == []}
    assert public == {("/api/login", "post"), ("/api/openapi.json", "get")}


def test_every_operation_documents_its_errors_as_the_error_schema(document):
    error_ref = "#/components/schemas/Error"
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            assert operation.get("operationId"), (path, method)
            for status, answer in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                answer = responses[answer["$ref"].rsplit("/", 1)[1]] if "$ref" in answer else answer
                assert answer["content"]["application/json"]["schema"] == {"$ref": error_ref}, (path, method, status)


def _schema_validator(document: dict, name: str) -> Draft202012Validator:
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; resolve $refs inside the whole document.
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema)


def test_real_responses_match_their_schemas(client, db, document):
    from core.jobs.outbox import new_job
    from tests import factories

    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    job = new_job(db, "report", {"kind": "class_roster", "class_id": 1, "format": "csv"}, owner_id=teacher.id)
    db.commit()
    auth = factories.login(client, teacher)

    body = client.get(f"/api/jobs/{job.id}", headers=auth).get_json()
    _schema_validator(document, "JobEnvelope").validate(body)
    error = client.get("/api/jobs/not-a-job", headers=auth).get_json()
    _schema_validator(document, "Error").validate(error)
    bad = client.post("/api/reports", headers=auth, json={"kind": "nope", "class_id": 1}).get_json()
    _schema_validator(document, "Error").validate(bad)
    assert bad["field"] == "kind"


def test_list_endpoints_answer_the_documented_page_envelope(client, db, document):
    from tests import factories

    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    db.commit()
    auth = factories.login(client, teacher)
    page = _schema_validator(document, "Page")
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None or "{" in path:
            continue
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        if schema.get("allOf", [{}])[0].get("$ref") != "#/components/schemas/Page":
            continue
        response = client.get(path, headers=auth)
        if path.startswith("/api/admin/"):
            assert response.status_code == 403, path
            continue
        assert response.status_code == 200, (path, response.get_json())
        page.validate(response.get_json())
        bad = client.get(path + "?size=1000", headers=auth)
        assert bad.status_code == 400 and bad.get_json()["field"] == "size", path


def test_the_yaml_parser_the_endpoint_needs_is_a_runtime_dependency():
    # openapi.py reads the YAML on the deployed web tier, not only in tests.
    runtime = (ROOT / "requirements.txt").read_text().lower()
    assert re.search(r"^pyyaml==", runtime, re.MULTILINE), "add PyYAML to requirements.txt"


def test_the_documented_due_date_pattern_is_the_one_the_api_applies(document):
    from core.parsing import DATE_TIME_PATTERN

    assert document["components"]["schemas"]["DueAt"]["oneOf"][1]["pattern"] == DATE_TIME_PATTERN
