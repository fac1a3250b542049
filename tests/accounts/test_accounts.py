"""Users, roles and tokens on real SQLite and PostgreSQL workspaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from statops.accounts import (
    PERMISSIONS,
    ROLES,
    Actor,
    add_user,
    allowed,
    authenticate,
    create_token,
    current_actor,
    disable_user,
    ensure_admin,
    list_tokens,
    list_users,
    parse_expiry,
    require,
    revoke_token,
    verify_password,
)
from statops.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from statops.store.schema import ApiToken, AuditEvent, User

ADMIN = Actor("boss", "admin", "local")

# The whole matrix: which role may take which action (anything missing is refused).
EXPECTED = {
    "users.manage": {"admin"},
    "tokens.own": set(ROLES),
    "tokens.manage": {"admin"},
    "audit.read": {"viewer", "modeller", "approver", "admin"},
    "models.read": set(ROLES),
    "data.read": set(ROLES),
    "data.manage": {"modeller", "admin"},
    "models.evaluate": {"modeller", "approver", "admin"},
    "workspace.backup": {"admin"},
    "models.gates": {"approver", "admin"},
    "models.train": {"modeller", "admin"},
    "models.retrain": {"modeller", "admin"},
    "models.request_approval": {"modeller", "admin"},
    "models.decide": {"approver", "admin"},
    "models.promote": {"approver", "admin"},
    "models.retire": {"approver", "admin"},
    "predict": {"coder", "modeller", "approver", "admin"},
    "monitoring.read": set(ROLES),
    "feedback.add": {"coder", "modeller", "approver", "admin"},
    "review.code": {"coder", "modeller", "approver", "admin"},
    "review.read": set(ROLES),
}


def _counts(ws) -> tuple[int, int, int]:  # noqa: ANN001
    with ws.store.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (User, ApiToken, AuditEvent))  # type: ignore[return-value]


def test_role_action_matrix(workspace) -> None:  # noqa: ANN001
    assert set(PERMISSIONS) == set(EXPECTED)
    for action, roles in EXPECTED.items():
        for role in ROLES:
            actor = Actor("someone", role, "token")
            if role in roles:
                require(workspace, actor, action)
                assert allowed(role, action)
            else:
                with pytest.raises(Forbidden, match=f"someone \\({role}\\) may not"):
                    require(workspace, actor, action)


def test_users_tokens_and_authentication(workspace) -> None:  # noqa: ANN001
    ws = workspace
    made = ensure_admin(ws, "boss")
    assert made is not None and made[0].role == "admin" and made[1].startswith("statops_")
    assert ensure_admin(ws, "boss") is None  # only on a workspace without users
    assert authenticate(ws, made[1]) == Actor("boss", "admin", "token")

    add_user(ws, ADMIN, "alice", "approver", password="correct horse battery")
    add_user(ws, ADMIN, "carol", "coder")
    assert [(u.name, u.role, u.has_password) for u in list_users(ws, ADMIN)] == [
        ("alice", "approver", True), ("boss", "admin", False), ("carol", "coder", False)]
    assert verify_password(ws, "alice", "correct horse battery").role == "approver"
    with pytest.raises(Unauthenticated, match="unknown user or wrong password"):
        verify_password(ws, "alice", "wrong horse battery")
    with ws.store.session() as s:  # the password is kept as an argon2 hash only
        assert s.scalar(select(User.password_hash).where(User.name == "alice")).startswith("$argon2id$")

    info, secret = create_token(ws, ADMIN, "alice", "laptop", datetime.now(UTC) + timedelta(days=1))
    with ws.store.session() as s:  # only the hash is stored
        stored = s.get(ApiToken, info.id)
        assert stored is not None and secret not in (stored.token_sha256, stored.label)
    alice = authenticate(ws, secret)
    assert alice == Actor("alice", "approver", "token")
    assert list_tokens(ws, alice)[0].last_used_at is not None
    with pytest.raises(Forbidden):  # alice is no admin: not carol's tokens, nor everyone's
        list_tokens(ws, alice, "carol")
    with pytest.raises(Forbidden):
        create_token(ws, alice, "carol")
    own, own_secret = create_token(ws, alice)
    revoke_token(ws, alice, own.id)
    with pytest.raises(Unauthenticated, match=f"API token {own.id} was revoked"):
        authenticate(ws, own_secret)

    ws.settings.token = None
    assert current_actor(ws) == Actor(ws.settings.actor, "admin", "local")
    from pydantic import SecretStr
    ws.settings.token = SecretStr(secret)
    assert current_actor(ws).name == "alice" and ws.actor == "alice"

    disable_user(ws, ADMIN, "alice")
    with pytest.raises(Unauthenticated, match="user alice is disabled"):
        authenticate(ws, secret)
    with pytest.raises(Conflict, match="last enabled admin"):
        disable_user(ws, ADMIN, "boss")

    with ws.store.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action).order_by(AuditEvent.id))]
    assert actions.count("user.add") == 3 and "token.revoke" in actions and "user.disable" in actions


def test_expired_token_is_refused(workspace) -> None:  # noqa: ANN001
    ws = workspace
    add_user(ws, ADMIN, "dave", "viewer")
    info, secret = create_token(ws, ADMIN, "dave", expires_at=datetime.now(UTC) + timedelta(hours=1))
    with ws.store.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == info.id).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(Unauthenticated, match=f"API token {info.id} expired"):
        authenticate(ws, secret)
    assert list_tokens(ws, ADMIN, "dave")[0].state == "expired"


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda ws: add_user(ws, ADMIN, "eve", "superuser"), InvalidInput, "unknown role 'superuser'"),
    (lambda ws: add_user(ws, ADMIN, "bad name", "viewer"), InvalidInput, "invalid user name"),
    (lambda ws: add_user(ws, ADMIN, "eve", "viewer", password="short"), InvalidInput, "too short"),
    (lambda ws: add_user(ws, Actor("x", "approver", "token"), "eve", "viewer"), Forbidden, "may not users manage"),
    (lambda ws: disable_user(ws, ADMIN, "nobody"), NotFound, "unknown user nobody"),
    (lambda ws: create_token(ws, ADMIN, "nobody"), NotFound, "unknown user nobody"),
    (lambda ws: revoke_token(ws, ADMIN, "0123456789ab"), NotFound, "unknown token"),
    (lambda ws: authenticate(ws, "statops_not-a-token"), Unauthenticated, "unknown API token"),
])
def test_bad_input_is_one_line_and_changes_nothing(workspace, call, error, message: str) -> None:  # noqa: ANN001
    before = _counts(workspace)
    with pytest.raises(error, match=message) as raised:
        call(workspace)
    assert "\n" not in str(raised.value)
    assert _counts(workspace) == before


def test_parse_expiry() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_expiry("30d", now) == now + timedelta(days=30)
    assert parse_expiry("2025-02-01", now) == datetime(2025, 2, 1, tzinfo=UTC)
    for bad in ("soon", "2024-01-01", "0m"):
        with pytest.raises(InvalidInput):
            parse_expiry(bad, now)
