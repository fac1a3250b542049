"""One family of errors. The CLI prints them without a traceback; HTTP maps them to 4xx."""

from __future__ import annotations


class StatopsError(Exception):
    """Base of every error statops raises on purpose (a user mistake or a refused action)."""

    http_status = 400


class InvalidInput(StatopsError):
    """The input (file, argument, body) is malformed or fails validation."""

    http_status = 422


class NotFound(StatopsError):
    """A named thing (dataset, model, version, workspace) does not exist."""

    http_status = 404


class Conflict(StatopsError):
    """The action clashes with the current state (e.g. a retired version)."""

    http_status = 409


class Forbidden(StatopsError):
    """The caller may not do this."""

    http_status = 403


class Unauthenticated(StatopsError):
    """The caller's credentials (token, password) are unknown, expired, revoked or of a disabled user."""

    http_status = 401
