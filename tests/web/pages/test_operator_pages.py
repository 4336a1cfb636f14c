"""An operator (platform staff, no institution) logs in to the pages and lands on the operations console."""
from __future__ import annotations

from core.auth import hash_password
from core.models import User
from tests import factories
from tests.web.pages.helpers import page_login


def test_an_operator_logs_in_and_lands_on_a_page(client, db):
    operator = User(institution_id=None, email="ops@example.test", full_name="Ops", role="operator",
                    password_hash=hash_password(factories.PASSWORD))
    db.add(operator)
    db.commit()
    page_login(client, operator)
    home = client.get("/", follow_redirects=True)
    assert home.status_code == 200 and "Ops (operator)" in home.get_data(as_text=True)
    assert home.request.path == "/ops/" and "Operations overview" in home.get_data(as_text=True)
    for path in ("/jobs", "/notifications"):
        assert client.get(path).status_code in (200, 403), path
