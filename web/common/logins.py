"""The user of a login token (an API bearer token, or a page's session cookie login), read in
one statement outside the ORM (web/common/reads.py): every API call and page starts with this
read, and through the ORM it cost about a third of an enqueue's time (the session's execution
machinery for one SELECT, and loading the row into an instance).

The user comes back as a persistent instance of the request's session, as if the session had
loaded it (web.common.inserted.attach), so views use and change it as before. The read is its
own snapshot, outside the request's transaction; under READ COMMITTED (PostgreSQL's default,
and the app's) that is what a first SELECT in the transaction would have seen anyway."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from core.auth import live_login, token_digest
from core.db import UTCDateTime, utcnow
from core.models import ApiToken, User
from web.common.inserted import attach
from web.common.reads import reads

_USER_COLUMNS = tuple(attr.key for attr in sa.inspect(User).column_attrs)
USER_BY_LOGIN = (
    sa.select(ApiToken.id.label("login_id"), *(getattr(User, key) for key in _USER_COLUMNS))
    .join(User, User.id == ApiToken.user_id)
    .where(live_login(sa.bindparam("digest", type_=sa.String), sa.bindparam("now", type_=UTCDateTime)))
)


def user_for_token(session: Session, token: str) -> tuple[User, int] | None:
    """The user and the login's id for a live token (core.auth.live_login), or None."""
    row = reads().first(USER_BY_LOGIN, {"digest": token_digest(token), "now": utcnow()})
    if row is None:
        return None
    values = {key: getattr(row, key) for key in _USER_COLUMNS}
    known = session.identity_map.get(identity_key(User, values["id"]))
    user = known if known is not None else attach(session, User, values)
    return user, row.login_id
