"""statops users and statops tokens as a user meets them, and STATOPS_TOKEN on every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import run_cli as run


def _token(out: str) -> str:
    return next(line.strip() for line in out.splitlines() if line.strip().startswith("statops_"))


@pytest.fixture
def home(tmp_path: Path, capsys, monkeypatch) -> tuple[Path, str]:  # noqa: ANN001
    home = tmp_path / "ws"
    code, out, _ = run(capsys, monkeypatch, "init", "--home", str(home))
    assert code == 0 and "Admin user" in out and "shown only this once" in out
    code, out, _ = run(capsys, monkeypatch, "init", "--home", str(home))  # again: no second admin token
    assert code == 0 and "statops_" not in out
    return home, out


def test_help_has_examples(capsys, monkeypatch) -> None:  # noqa: ANN001
    for group, command in (("users", "add"), ("users", "list"), ("users", "disable"),
                           ("tokens", "create"), ("tokens", "list"), ("tokens", "revoke")):
        code, out, _ = run(capsys, monkeypatch, group, command, "--help")
        assert code == 0 and f"Example: statops {group} {command}" in out, (group, command)


def test_users_and_tokens_flow(home, capsys, monkeypatch) -> None:  # noqa: ANN001
    h = ["--home", str(home[0])]
    monkeypatch.setattr("typer.prompt", lambda *a, **k: "a long enough password")
    code, out, _ = run(capsys, monkeypatch, "users", "add", "alice", "--role", "modeller", "--password", *h)
    assert code == 0 and "Added user alice (modeller) with a password" in out
    assert "a long enough password" not in out
    code, out, _ = run(capsys, monkeypatch, "users", "list", "--json", *h)
    users = {u["name"]: u for u in json.loads(out)}
    assert users["alice"]["role"] == "modeller" and users["alice"]["has_password"]
    code, out, _ = run(capsys, monkeypatch, "tokens", "create", "--user", "alice", "--expires", "7d", *h)
    assert code == 0 and "Shown only this once" in out and "keep it secret" in out
    secret = _token(out)

    monkeypatch.setenv("STATOPS_TOKEN", secret)  # from here on, act as alice
    code, out, _ = run(capsys, monkeypatch, "tokens", "list", "--json", *h)
    listed = json.loads(out)
    assert code == 0 and [t["user"] for t in listed] == ["alice"] and listed[0]["last_used_at"]
    assert secret not in out
    code, _, err = run(capsys, monkeypatch, "users", "add", "bob", "--role", "viewer", *h)
    assert code == 2 and "alice (modeller) may not users manage" in err and err.count("\n") == 1
    code, out, _ = run(capsys, monkeypatch, "tokens", "revoke", listed[0]["id"], *h)
    assert code == 0 and "Revoked" in out
    code, _, err = run(capsys, monkeypatch, "data", "list", *h)  # every command refuses a revoked token
    assert code == 2 and "was revoked" in err and err.count("\n") == 1

    monkeypatch.delenv("STATOPS_TOKEN")  # the local admin again
    code, out, _ = run(capsys, monkeypatch, "users", "disable", "alice", *h)
    assert code == 0 and "Disabled user alice" in out
    code, out, _ = run(capsys, monkeypatch, "users", "list", *h)
    assert "disabled" in out


@pytest.mark.parametrize(("args", "message"), [
    (["users", "add", "eve", "--role", "root"], "unknown role 'root'"),
    (["users", "disable", "nobody"], "unknown user nobody"),
    (["tokens", "create", "--user", "nobody"], "unknown user nobody"),
    (["tokens", "create", "--expires", "yesterday"], "invalid expiry"),
    (["tokens", "revoke", "ffffffffffff"], "unknown token ffffffffffff"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], message: str, home, capsys, monkeypatch) -> None:  # noqa: ANN001
    code, before, _ = run(capsys, monkeypatch, "users", "list", "--json", "--home", str(home[0]))
    code, _, err = run(capsys, monkeypatch, *args, "--home", str(home[0]))
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert run(capsys, monkeypatch, "users", "list", "--json", "--home", str(home[0]))[1] == before


def test_an_unknown_token_stops_any_command(home, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("STATOPS_TOKEN", "statops_nonsense")
    code, _, err = run(capsys, monkeypatch, "models", "list", "--home", str(home[0]))
    assert code == 2 and "unknown API token" in err and err.count("\n") == 1
    assert "statops_nonsense" not in err
