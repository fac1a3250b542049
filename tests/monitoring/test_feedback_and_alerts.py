"""True codes (feedback) validated and turned into realised accuracy; alerts posted to a webhook that
fails or hangs without holding the caller; a reference built later from a dataset."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from statops.accounts import Actor
from statops.errors import Forbidden, InvalidInput
from statops.monitoring import OK, add_feedback, monitor
from statops.monitoring.alerts import update_alerts
from statops.monitoring.reference_store import load_reference, save_reference
from statops.monitoring.signals import Signal
from statops.monitoring.webhook import deliver, longest_wait, post_in_background
from statops.registry import resolve_model
from statops.scoring.prediction_log import delete_request, read_predictions
from statops.store.schema import AuditEvent, Feedback, MonitoringAlert
from tests.cli_runner import run_cli
from tests.conftest import Trained
from tests.monitoring.streams import log_texts, now, stream

CODER = Actor("casey", "coder", "token")


@pytest.fixture
def logged(trained: Trained) -> Iterator[tuple[str, pd.DataFrame]]:
    """400 test-split predictions in the log (removed afterwards), with their feedback."""
    request_id, start = str(uuid.uuid4()), now()
    log_texts(trained.ws, trained.model, stream("none", 400), request_id)
    rows = read_predictions(trained.ws.store, trained.model, since=start)
    yield request_id, rows
    delete_request(trained.ws.store, request_id)
    with trained.ws.store.engine.begin() as connection:
        connection.execute(Feedback.__table__.delete().where(Feedback.prediction_id.in_(rows["id"].tolist())))


def _feedback_rows(ws) -> int:  # noqa: ANN001
    with ws.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Feedback)))


def test_feedback_file_rows_are_checked_and_a_bad_one_names_its_line(
        trained: Trained, logged: tuple[str, pd.DataFrame], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, rows = logged
    before = _feedback_rows(trained.ws)
    bad = pd.DataFrame({"prediction_id": [rows["id"][0], rows["id"][1], "no-such-id", rows["id"][3]],
                        "true_code": [rows["code"][0], "99999", rows["code"][2], rows["code"][3]],
                        "source": ["clerical", "clerical", "expert", "guess"]})
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, out, err = run_cli(capsys, monkeypatch, "feedback", "add", trained.model, str(tmp_path / "bad.csv"),
                             "--home", str(trained.ws.home))
    assert code == 2
    message = " ".join(err.split())
    assert "line 3" in message and "does not have" in message  # the unknown code, on the file's 3rd line
    assert "line 4" in message and "never logged" in message
    assert "line 5" in message and "source other than" in message and "nothing was written" in message
    assert _feedback_rows(trained.ws) == before

    good = pd.DataFrame({"prediction_id": rows["id"][:5], "true_code": rows["code"][:5]})
    good.to_csv(tmp_path / "good.csv", index=False)
    code, out, err = run_cli(capsys, monkeypatch, "feedback", "add", trained.model, str(tmp_path / "good.csv"),
                             "--source", "clerical", "--home", str(trained.ws.home))
    assert code == 0, err
    assert "Added 5 true codes" in out and _feedback_rows(trained.ws) == before + 5
    with trained.ws.store.session() as session:
        assert session.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc())).first() == "feedback.add"


def test_feedback_needs_a_coder_and_a_known_text_or_id(trained: Trained, logged: tuple[str, pd.DataFrame]) -> None:
    _, rows = logged
    with pytest.raises(Forbidden, match="roles that may: coder"):
        add_feedback(trained.ws, Actor("val", "viewer", "token"), trained.model,
                     [{"prediction_id": rows["id"][0], "true_code": "1115", "source": "expert"}])
    with pytest.raises(InvalidInput, match="neither a prediction id nor a text"):
        add_feedback(trained.ws, CODER, trained.model, [{"true_code": "1115", "source": "expert"},
                                                        {"text": "", "true_code": "1115", "source": "expert"}])
    added = add_feedback(trained.ws, CODER, trained.model,
                         [{"text": "welder", "true_code": "5215", "source": "expert"}])
    assert added.by_text == 1 and added.by_source == {"expert": 1}


def test_realised_and_audit_accuracy_from_true_codes(trained: Trained, logged: tuple[str, pd.DataFrame]) -> None:
    _, rows = logged
    start = rows["at"].min()
    truth = rows["code"].where(rows.index % 4 != 0, "1115")  # three in four right
    add_feedback(trained.ws, CODER, trained.model,
                 pd.DataFrame({"prediction_id": rows["id"], "true_code": truth, "source": "clerical"}))
    result = monitor(trained.ws, trained.model, window="day", since=start.to_pydatetime(), update_alerts_store=False)
    realised = result.latest.signal("realised_accuracy")
    assert realised.status == OK and realised.value == pytest.approx((truth == rows["code"]).mean())
    assert realised.details["records"] == len(rows) and "major" in realised.details["per_level"]
    auto = rows[rows["decision"] == "auto"]
    audit = result.latest.signal("audit_accuracy")
    assert audit.status == "not enough data"  # fewer than 30 audited auto-coded records
    with trained.ws.store.engine.begin() as connection:  # an audit sample of the auto-coded ones
        connection.execute(Feedback.__table__.update().where(Feedback.prediction_id.in_(auto["id"].tolist()))
                           .values(source="audit-sample"))
    if len(auto) >= trained.ws.settings.monitor_min_labelled:
        audit = monitor(trained.ws, trained.model, window="day", since=start.to_pydatetime(),
                        update_alerts_store=False).latest.signal("audit_accuracy")
        assert audit.details["low"] <= audit.value <= audit.details["high"]


class _Receiver(BaseHTTPRequestHandler):
    calls: list[dict[str, object]] = []
    behaviour = "ok"

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        if type(self).behaviour == "hang":
            time.sleep(3)
        status = 500 if type(self).behaviour == "fail-once" and len(type(self).calls) == 1 else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"calls": [], "behaviour": "ok"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()


def test_webhook_retries_a_failure_and_never_holds_the_caller(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.behaviour = "fail-once"
    assert deliver(url, {"opened": ["x"]}, timeout=2, retries=2) and len(handler.calls) == 2
    handler.behaviour = "hang"
    started = time.monotonic()
    thread = post_in_background(url, {"opened": ["y"]}, timeout=0.3, retries=1)
    assert time.monotonic() - started < 0.2  # the caller goes on at once
    thread.join(longest_wait(0.3, 1) + 1)
    assert not thread.is_alive()
    assert not deliver("http://127.0.0.1:9/nothing-listens", {}, timeout=0.5, retries=0)


def test_alerts_go_to_the_webhook(trained: Trained, receiver: tuple[str, type[_Receiver]],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = receiver
    request_id, start = str(uuid.uuid4()), now()
    log_texts(trained.ws, trained.model, stream("products", 600), request_id)
    monkeypatch.setattr(trained.ws.settings, "monitor_webhook_url", url)
    try:
        result = monitor(trained.ws, trained.model, window="600", since=start)
        assert result.webhook is not None
        result.webhook.join(10)
        assert handler.calls and {a["signal"] for a in handler.calls[0]["opened"]} >= {"text_drift"}
    finally:
        delete_request(trained.ws.store, request_id)
        calm = now()
        log_texts(trained.ws, trained.model, stream("none", 600), request_id)
        monitor(trained.ws, trained.model, window="600", since=calm)  # resolves them again
        delete_request(trained.ws.store, request_id)


def test_two_runs_at_once_open_an_alert_once(trained: Trained) -> None:
    """A server's scheduled run and a cron `statops monitor` at the same moment: one open alert per signal."""
    ws, version = trained.ws, trained.version
    signals = [Signal("race_signal", 0.9, "alert", "over 0.5", warn=0.3, alert=0.5)]
    barrier, got = threading.Barrier(4), []

    def run() -> None:
        barrier.wait()
        got.append(update_alerts(ws, trained.model, version, "race window", signals))

    try:
        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(got) == 4 and sum(len(c.opened) for c in got) == 1
        with ws.store.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(MonitoringAlert.__table__).where(
                MonitoringAlert.signal == "race_signal", MonitoringAlert.state == "open")).scalar() == 1
        with pytest.raises(IntegrityError), ws.store.session() as session:  # the store itself refuses a second
            session.add(MonitoringAlert(model=trained.model, version=version, signal="race_signal", state="open",
                                        message="copy", window="race window"))
    finally:
        with ws.store.engine.begin() as connection:
            connection.execute(MonitoringAlert.__table__.delete().where(MonitoringAlert.signal == "race_signal"))


def test_a_reference_built_later_from_a_dataset(trained: Trained, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ref = resolve_model(trained.ws, trained.model)
    original = load_reference(trained.ws, ref)
    assert original is not None
    try:
        code, out, err = run_cli(capsys, monkeypatch, "monitor", trained.model, "--reference", "soc-test",
                                 "--since", now().isoformat(), "--home", str(trained.ws.home), "--json")
        assert code == 0, err
        assert json.loads(out)["reference"]["source"] == "dataset soc-test@1"
        rebuilt = load_reference(trained.ws, ref)
        assert rebuilt is not None and rebuilt.records == 800 and rebuilt.vocabulary == original.vocabulary
        code, out, err = run_cli(capsys, monkeypatch, "monitor", trained.model, "--reference", "soc-train",
                                 "--home", str(trained.ws.home))
        assert code == 2 and "held-out" in " ".join(err.split())
    finally:
        assert ref.run_id
        save_reference(trained.ws, ref.run_id, original)
