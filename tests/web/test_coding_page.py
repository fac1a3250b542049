"""The coding page in headless Chromium against a real server: a coder signs in and codes ten items by
keyboard alone (keys 1-5 and Enter, u, s), finds a code by searching; a viewer is refused; a form
without the session's CSRF token is refused with nothing written; signing out ends the session."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from statops import Workspace
from statops.accounts import add_user
from statops.errors import Conflict
from statops.review.queue import DECISIONS
from tests.browser import chromium, press, sign_in
from tests.conftest import Trained
from tests.monitoring.streams import bundled_test_split, log_texts
from tests.serving.live import TEST_ADMIN, copy_version, live_server, predict, server_settings

MODEL = "review-web"
PASSWORD = "correct horse battery"


def _decisions(ws: Workspace, coder: str) -> list[Any]:
    with ws.store.engine.connect() as connection:
        return list(connection.execute(select(DECISIONS).where(DECISIONS.c.model == MODEL,
                                                               DECISIONS.c.coder == coder)))


def _person(ws: Workspace, name: str, role: str) -> None:
    try:
        add_user(ws, TEST_ADMIN, name, role, password=PASSWORD)
    except Conflict:
        pass


@pytest.fixture(scope="module")
def site(trained: Trained) -> Iterator[str]:
    """A server with a copy of the trained model and 80 test-split predictions in its review queue."""
    ws = trained.ws
    if not any(m.name == MODEL for m in ws.mlflow.search_registered_models()):
        copy_version(ws, (trained.model, trained.version), MODEL)
    _person(ws, "cora", "coder")
    _person(ws, "vera", "viewer")
    settings = server_settings(ws, monitor_schedule_seconds=0, review_sync_seconds=0, review_double_share=0.0)
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        answered = predict(client, MODEL, bundled_test_split().head(80)["text"].tolist())
        assert answered.status_code == 200, answered.text
        yield server.url


def test_a_coder_codes_ten_items_by_keyboard(trained: Trained, site: str) -> None:
    ws = trained.ws
    before = len(_decisions(ws, "cora"))
    with chromium() as context:
        page = context.new_page()
        sign_in(page, site, MODEL, "cora", PASSWORD)
        assert page.url.endswith(f"/review/{MODEL}")
        cookie = next(c for c in context.cookies() if c["name"] == "statops_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        seen = []
        for n in range(10):
            record = page.locator("#record").inner_text()
            seen.append(record)
            key = ("1", "2", "3")[n % 3]
            page.keyboard.press(key)
            assert page.locator(f'input[data-key="{key}"]').is_checked()
            press(page, "Enter")
            assert page.locator("#record").count() == 1, page.content()
        pace = page.locator("#pace").inner_text()
        assert "you answered 10 today" in pace, pace
        # uncodable and skip by their keys; a coder has no 'not in the base' (a matcher's answer)
        assert page.locator("#not-in-base").count() == 0
        press(page, "u")
        press(page, "s")
        # a search over the classification by words lists more codes, numbered after the suggestions
        page.locator("#q").fill("nurse")
        press(page, "Enter")
        found = page.locator(".choice.found label")
        assert found.count() >= 1 and any("nurse" in t.lower() for t in found.all_inner_texts())
    decided = _decisions(ws, "cora")[before:]
    assert [d.outcome for d in decided] == ["coded"] * 10 + ["uncodable", "skip"]
    assert all(d.seconds is not None and 0 <= d.seconds < 600 for d in decided)
    assert len(set(seen)) >= 1 and len({d.item_id for d in decided}) == 12


def test_a_viewer_is_refused_and_a_form_without_the_csrf_token_too(trained: Trained, site: str) -> None:
    ws = trained.ws
    log_texts(ws, MODEL, bundled_test_split().tail(20)["text"].tolist(), str(uuid.uuid4()))  # items for cora
    with chromium() as context:
        page = context.new_page()
        sign_in(page, site, MODEL, "vera", PASSWORD)
        assert page.locator("h1").inner_text() == "Not allowed"
        assert "viewer" in page.locator("[role=alert]").inner_text()
    with chromium() as context:
        page = context.new_page()
        sign_in(page, site, MODEL, "cora", PASSWORD)
        before = len(_decisions(ws, "cora"))
        assert page.locator("#record").count() == 1, page.locator("main").inner_text()
        item_text = page.locator("#record").inner_text()
        page.evaluate("document.querySelector('#answer input[name=csrf]').remove()")
        page.keyboard.press("1")
        press(page, "Enter")
        assert page.locator("h1").inner_text() == "Answer refused"
        assert len(_decisions(ws, "cora")) == before
        # the same item is still hers; a session cookie from elsewhere without the token gets nothing either
        page.goto(f"{site}/review/{MODEL}")
        assert page.locator("#record").inner_text() == item_text
        form_action = page.locator("#answer").get_attribute("action")
        assert form_action is not None and re.fullmatch(rf"/review/{MODEL}/\d+", form_action)
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        refused = httpx.post(f"{site}{form_action}", data={"code": "2136", "action": "code"}, cookies=cookies)
        assert refused.status_code == 403
        assert len(_decisions(ws, "cora")) == before
        # signing out ends the session: the old cookie no longer opens the page
        with page.expect_navigation():
            page.locator("button", has_text="Sign out").click()
        assert "/sign-in" in page.url
        after = httpx.get(f"{site}/review/{MODEL}", cookies=cookies, follow_redirects=False)
        assert after.status_code == 303 and after.headers["location"].startswith("/sign-in")


def test_a_wrong_password_is_refused_without_saying_which_part(site: str) -> None:
    with chromium() as context:
        page = context.new_page()
        page.goto(f"{site}/sign-in")
        page.fill("#name", "cora")
        page.fill("#password", "wrong")
        press(page, "Enter")
        assert page.locator("[role=alert]").inner_text() == "unknown user or wrong password"
        headers = httpx.get(f"{site}/sign-in").headers
        assert "script-src 'self'" in headers["content-security-policy"]
    assert httpx.post(f"{site}/sign-in", data={"name": "cora", "password": PASSWORD}).status_code == 403  # no token
