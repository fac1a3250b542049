"""Roles, who may do what, and the one permission check every face goes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from statops.errors import Forbidden, InvalidInput

if TYPE_CHECKING:
    from statops.workspace import Workspace

ROLES = ("viewer", "coder", "modeller", "approver", "admin")
EVERYONE = frozenset(ROLES)

#: action -> the roles that may take it. Anything not listed here is refused to everyone.
PERMISSIONS: dict[str, frozenset[str]] = {
    "users.manage": frozenset({"admin"}),               # add, list, disable users
    "tokens.own": EVERYONE,                             # create, list, revoke one's own tokens
    "tokens.manage": frozenset({"admin"}),              # the same for anyone's tokens
    "audit.read": frozenset({"viewer", "modeller", "approver", "admin"}),
    "models.read": EVERYONE,
    "data.read": EVERYONE,                              # list and show classifications and datasets
    "data.manage": frozenset({"modeller", "admin"}),    # add classifications and datasets
    "models.evaluate": frozenset({"modeller", "approver", "admin"}),
    "workspace.backup": frozenset({"admin"}),
    "models.train": frozenset({"modeller", "admin"}),
    "models.retrain": frozenset({"modeller", "admin"}),  # train a challenger and put it up for approval
    "models.request_approval": frozenset({"modeller", "admin"}),
    "models.decide": frozenset({"approver", "admin"}),  # approve or reject
    "models.promote": frozenset({"approver", "admin"}),  # promote, roll back
    "models.gates": frozenset({"approver", "admin"}),   # set a model's quality gates
    "models.retire": frozenset({"approver", "admin"}),
    "predict": frozenset({"coder", "modeller", "approver", "admin"}),
    "monitoring.read": EVERYONE,                        # compute and read monitoring signals and alerts
    "feedback.add": frozenset({"coder", "modeller", "approver", "admin"}),  # true codes for predictions
    "review.code": frozenset({"coder", "modeller", "approver", "admin"}),  # take and answer review items
    "review.read": EVERYONE,                            # the review queue's progress and agreement
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user's name and role, and how they were recognised.

    `via` is 'token', 'password' or 'local' (the workspace's local admin: whoever can read its files)."""

    name: str
    role: str
    via: str

    def describe(self) -> str:
        return f"{self.name} ({self.role})"


def check_role(role: str) -> str:
    """The role, or an InvalidInput naming the roles there are."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    return role


def allowed(role: str, action: str) -> bool:
    """Whether `role` may take `action`."""
    return role in PERMISSIONS.get(action, frozenset())


def require(ws: Workspace, actor: Actor, action: str) -> None:
    """Forbidden unless `actor`'s role may take `action` in workspace `ws` (roles are per workspace)."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}")  # a bug, not a user error
    if not allowed(actor.role, action):
        may = ", ".join(r for r in ROLES if r in PERMISSIONS[action])
        raise Forbidden(f"{actor.describe()} may not {action.replace('.', ' ').replace('_', ' ')}; "
                        f"roles that may: {may}")
