"""The demo operator: platform staff belong to no institution, and only they may."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core import demo
from core.models import User
from tests import factories


def test_the_demo_seed_adds_the_operator_once_and_it_can_log_in(client, db):
    assert demo.start_demo_seed(db)[0] == "started"
    assert demo.start_demo_seed(db)[0] == "running"
    operators = db.execute(sa.select(User.email, User.role, User.institution_id).where(User.role == "operator")).all()
    assert operators == [(demo.DEMO_OPERATOR.email, "operator", None)]
    response = client.post("/api/login", json={"email": demo.DEMO_OPERATOR.email,
                                               "password": demo.DEMO_OPERATOR.password})
    assert response.status_code == 200
    assert response.get_json()["user"]["role"] == "operator"


@pytest.mark.parametrize("role", ["admin", "teacher", "student"])
def test_only_an_operator_may_belong_to_no_institution(db, role):
    db.add(User(institution_id=None, email=f"{role}@nowhere.test", full_name="N", role=role, password_hash="x"))
    with pytest.raises(IntegrityError, match="ck_users_institution"):
        db.commit()
    db.rollback()


def test_no_role_outside_the_list(db):
    school = factories.institution(db)
    db.add(User(institution_id=school.id, email="root@school.test", full_name="R", role="root", password_hash="x"))
    with pytest.raises(IntegrityError, match="ck_users_role"):
        db.commit()
    db.rollback()
