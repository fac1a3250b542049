"""Monitoring on real SQLite and PostgreSQL workspaces: a model trained on the SOC2010 train split, fed
the test split as it is and shifted, with its reference profile made at training."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from statops.monitoring import ALERT, NOT_ENOUGH, OK, monitor
from statops.monitoring.reference_store import load_reference
from statops.registry import resolve_model
from statops.scoring.prediction_log import delete_request
from tests.browser import chromium
from tests.cli_runner import run_cli
from tests.conftest import Trained
from tests.monitoring.streams import WINDOW, bundled_test_split, log_texts, now, stream


@pytest.fixture
def requests(trained: Trained) -> Iterator[list[str]]:
    """Request ids a test logs under; their rows are removed afterwards (the workspace is shared)."""
    ids: list[str] = []
    yield ids
    for request_id in ids:
        delete_request(trained.ws.store, request_id)


def _log(trained: Trained, requests: list[str], texts: list[str], **kw: object) -> list[str]:
    request_id = str(uuid.uuid4())
    requests.append(request_id)
    return log_texts(trained.ws, trained.model, texts, request_id, **kw)  # type: ignore[arg-type]


def _statuses(result) -> dict[str, str]:  # noqa: ANN001
    return {s.name: s.status for s in result.latest.signals}


def test_training_keeps_a_reference_profile(trained: Trained) -> None:
    profile = load_reference(trained.ws, resolve_model(trained.ws, trained.model))
    assert profile is not None
    assert profile.source == "dev dataset soc-dev@1" and profile.records == 1000 and not profile.in_sample
    assert profile.levels == ["major", "submajor", "minor", "unit"]
    assert len(profile.texts) == 1000 and len(profile.vocabulary) > 1000
    assert 0 < profile.auto_coded_share < 1 and len(profile.confidence) == 1000
    assert set(profile.accuracy) == {"code", "major", "submajor", "minor", "unit"}
    assert profile.accuracy["major"] >= profile.accuracy["unit"]


def test_a_model_with_nothing_logged_is_not_enough_data(trained: Trained) -> None:
    result = monitor(trained.ws, trained.model, since=now())
    assert result.windows == [] and result.status == NOT_ENOUGH
    assert "no predictions" in result.note and result.alerts.opened == []


def test_the_test_split_scored_with_log_raises_no_alert(trained: Trained, requests: list[str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = str(trained.ws.home)
    split = bundled_test_split()
    split[["text"]].to_csv(tmp_path / "survey.csv", index=False)
    start = now()
    code, out, err = run_cli(capsys, monkeypatch, "score", trained.model, str(tmp_path / "survey.csv"),
                             str(tmp_path / "coded.csv"), "--log", "--home", home)
    assert code == 0, err
    frame = monitor(trained.ws, trained.model, since=start, update_alerts_store=False)
    with trained.ws.store.engine.connect() as connection:
        from sqlalchemy import select

        from statops.scoring.prediction_log import TABLE
        requests += sorted(set(connection.execute(select(TABLE.c.request_id).where(TABLE.c.at >= start)).scalars()))
    assert sum(w.records for w in frame.windows) == len(split)
    code, out, err = run_cli(capsys, monkeypatch, "monitor", trained.model, "--window", str(WINDOW),
                             "--since", start.isoformat(), "--home", home, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [w["records"] for w in result["windows"]] == [WINDOW, len(split) - WINDOW]
    for window in result["windows"]:
        assert {s["status"] for s in window["signals"]} <= {OK, NOT_ENOUGH}, window
    assert result["alerts"]["opened"] == []
    code, out, err = run_cli(capsys, monkeypatch, "monitor", trained.model, "--window", str(WINDOW),
                             "--since", start.isoformat(), "--home", home)
    assert code == 0, err
    assert "code_distribution_shift" in out and "text_drift" in out and "alert" not in out
    assert "code_distribution_shift[major]" in out  # a signal's level is shown, not taken for markup
    assert max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize(("kind", "expected"), [
    ("one_major_group", {"code_distribution_shift", "code_distribution_shift[major]"}),
    ("no_qualifiers", {"text_length_shift"}),
    ("products", {"text_drift", "out_of_vocabulary_rate"}),
])
def test_shifted_streams_raise_the_right_alerts(trained: Trained, requests: list[str], kind: str,
                                                expected: set[str]) -> None:
    start = now()
    _log(trained, requests, stream(kind))
    result = monitor(trained.ws, trained.model, window=str(WINDOW), since=start)
    alerts = {name for name, status in _statuses(result).items() if status == ALERT}
    assert expected <= alerts, _statuses(result)
    assert expected <= {a.signal for a in result.alerts.open}
    # while the signal stays in alert, its open alert is not raised again
    again = monitor(trained.ws, trained.model, window=str(WINDOW), since=start)
    assert again.alerts.opened == [] and expected <= {a.signal for a in again.alerts.open}
    # and it resolves once the signal is ok again
    calm = now()
    _log(trained, requests, stream("none"))
    resolved = monitor(trained.ws, trained.model, window=str(WINDOW), since=calm)
    assert expected <= {a.signal for a in resolved.alerts.resolved}
    assert not expected & {a.signal for a in resolved.alerts.open}


def test_bad_inputs_give_clear_statuses(trained: Trained, requests: list[str]) -> None:
    start = now()
    _log(trained, requests, ["welder"])
    one = monitor(trained.ws, trained.model, window="day", since=start)
    statuses = _statuses(one)
    assert statuses["volume"] == OK and one.latest.records == 1
    assert {v for k, v in statuses.items() if k != "volume"} == {NOT_ENOUGH}
    assert "1 record(s) in the window" in one.latest.signal("auto_coded_share").note

    start = now()
    _log(trained, requests, [""] * 300)
    empty = monitor(trained.ws, trained.model, window="day", since=start)
    for name in ("text_length_shift", "out_of_vocabulary_rate", "text_drift"):
        signal = empty.latest.signal(name)
        assert signal.status == NOT_ENOUGH and signal.note == "all texts are empty"

    start = now()
    _log(trained, requests, stream("none", 300), keep_text=False)
    hidden = monitor(trained.ws, trained.model, window="day", since=start)
    assert hidden.latest.signal("text_drift").note.startswith("no texts logged"), hidden.latest.signal("text_drift")
    assert hidden.latest.signal("text_length_shift").status != NOT_ENOUGH  # lengths are kept
    assert hidden.latest.signal("auto_coded_share").status == OK

    start = now()
    _log(trained, requests, stream("none", 300), codes=["XXXX"] * 150 + ["9999"] * 150)
    unknown = monitor(trained.ws, trained.model, window="day", since=start, update_alerts_store=False)
    shift = unknown.latest.signal("code_distribution_shift")
    assert shift.status == ALERT and shift.details["unseen"] == 2
    assert unknown.latest.signal("code_distribution_shift[major]").details["unseen"] == 1  # 'unknown'


def test_report_is_one_self_contained_page(trained: Trained, requests: list[str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    start = now()
    _log(trained, requests, stream("none", 1000))
    _log(trained, requests, stream("products", 1000))
    report = tmp_path / "monitoring.html"
    code, out, err = run_cli(capsys, monkeypatch, "monitor", trained.model, "--window", "1000", "--since",
                             start.isoformat(), "--report", str(report), "--home", str(trained.ws.home))
    assert code == 0, err
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") >= 10 and "Top predicted codes" in page and "Text length" in page
    assert "text_drift" in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")  # nothing to fetch: no URL but the SVG namespaces
    assert "src=" not in page and "<link" not in page
    _opens_offline_with_every_chart(report, page.count('<div class="chart">'))


def _opens_offline_with_every_chart(report: Path, charts: int) -> None:
    """The page in headless Chromium with no network: nothing is fetched but the file, and every chart is
    drawn (a visible SVG with marks in it)."""
    with chromium(offline=True) as context:
        browser_page = context.new_page()
        asked: list[str] = []
        browser_page.on("request", lambda request: asked.append(request.url))
        browser_page.goto(report.as_uri())
        assert asked == [report.as_uri()]
        drawn = browser_page.locator(".chart svg")
        assert drawn.count() == charts >= 10
        for n in range(charts):
            chart = drawn.nth(n)
            box = chart.bounding_box()
            assert chart.is_visible() and box is not None and box["width"] > 200 and box["height"] > 100
            assert chart.locator("path, rect, use").count() > 5
