"""GET /api/admin/workflows: the workflows of the admin's institution, paginated in SQL."""
from __future__ import annotations

from core.models import Workflow
from tests import factories


def test_admins_list_their_institutions_workflows_page_by_page(client, db):
    school = factories.institution(db)
    admin, colleague = factories.user(db, school, "admin"), factories.user(db, school, "admin")
    stranger = factories.user(db, factories.institution(db), "admin")
    for i in range(4):
        db.add(Workflow(name="seed_institution", owner_id=admin.id,
                        params={"slug": f"a{i}", "password_hash": "secret-hash"}))
    db.add(Workflow(name="seed_institution", owner_id=colleague.id, params={"slug": "c"}))
    db.add(Workflow(name="seed_institution", owner_id=stranger.id, params={"slug": "elsewhere"}))
    db.commit()
    headers = factories.login(client, admin)
    slugs = []
    for page, expected in ((1, 2), (2, 2), (3, 1), (4, 0)):
        body = client.get(f"/api/admin/workflows?page={page}&size=2", headers=headers).get_json()
        assert (body["page"], body["size"], body["total"], body["pages"]) == (page, 2, 5, 3)
        assert len(body["items"]) == expected
        slugs += [item["params"]["slug"] for item in body["items"]]
        assert all("password_hash" not in item["params"] for item in body["items"])
    assert sorted(slugs) == ["a0", "a1", "a2", "a3", "c"]
    item = client.get("/api/admin/workflows?size=1", headers=headers).get_json()["items"][0]
    assert item["url"] == f"/api/workflows/{item['id']}" and item["state"] == "running"


def test_bad_paging_is_400_and_non_admins_are_403(client, db):
    school = factories.institution(db)
    admin, teacher = factories.user(db, school, "admin"), factories.user(db, school, "teacher")
    db.commit()
    response = client.get("/api/admin/workflows?size=500", headers=factories.login(client, admin))
    assert response.status_code == 400 and response.get_json()["field"] == "size"
    assert client.get("/api/admin/workflows", headers=factories.login(client, teacher)).status_code == 403
