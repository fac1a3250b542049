"""Whether a retraining pays: clerical hours the challenger saves per production cycle, the labelling and
review effort behind the new data, and the risk of a break in published series; and the decision that
`--if-needed` takes from them (docs/retraining.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from statops.pipelines.compare import BreakRisk, McNemar
from statops.review.queue import DECISIONS, ITEMS
from statops.scoring.prediction_log import TABLE as LOG
from statops.scoring.prediction_log import in_window
from statops.settings import Settings
from statops.workspace import Workspace

PREDICTION_ID = "prediction_id"  # a review export's column: the prediction a record was coded for
BREAK_RISK_RECORDS = 100_000  # a larger cycle is sampled (seeded) for the break risk
SIGNIFICANCE = 0.05  # a challenger significantly worse than the champion (McNemar) is never proposed


@dataclass(frozen=True)
class Cycle:
    """The last production cycle in the prediction log: [since, until) and how many records it had."""

    since: datetime
    until: datetime
    volume: int

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "volume": self.volume}


def last_cycle(ws: Workspace, model: str, now: datetime) -> Cycle:
    since = now - timedelta(days=ws.settings.retrain_cycle_days)
    with ws.store.engine.connect() as connection:
        volume = connection.execute(in_window(select(func.count()).select_from(LOG), model, since=since,
                                              until=now)).scalar_one()
    return Cycle(since, now, int(volume))


def cycle_records(ws: Workspace, model: str, cycle: Cycle) -> pd.DataFrame:
    """The cycle's logged records with text: text and the code published for it (a seeded sample when large)."""
    query = in_window(select(LOG.c.id, LOG.c.input_text, LOG.c.code), model, since=cycle.since, until=cycle.until)
    with ws.store.engine.connect() as connection:
        rows = pd.DataFrame(connection.execute(query.where(LOG.c.input_text.is_not(None))).all(),
                            columns=["id", "text", "code"])
    if len(rows) > BREAK_RISK_RECORDS:
        rows = rows.sample(n=BREAK_RISK_RECORDS, random_state=0)
    return rows.sort_values("id").reset_index(drop=True)[["text", "code"]]


@dataclass(frozen=True)
class Effort:
    """The human work behind the new data: reviewed records with their recorded time, and records whose
    time was not recorded (estimated at the minutes-per-record setting)."""

    reviewed: int
    recorded_hours: float
    estimated: int
    estimated_hours: float

    @property
    def hours(self) -> float:
        return self.recorded_hours + self.estimated_hours

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hours": self.hours}


def labelling_effort(ws: Workspace, new_frames: Sequence[pd.DataFrame]) -> Effort:
    """Review time recorded for the new records that came from the review queue (by prediction id: every
    answer to their items, including second codings); other records at the minutes-per-record setting."""
    ids: list[str] = []
    other = 0
    for frame in new_frames:
        if PREDICTION_ID in frame:
            known = frame[PREDICTION_ID].dropna().astype(str)
            ids += known.tolist()
            other += len(frame) - len(known)
        else:
            other += len(frame)
    seconds, reviewed, untimed = 0.0, 0, 0
    with ws.store.engine.connect() as connection:
        for first in range(0, len(ids), 500):
            chunk = sorted(set(ids[first:first + 500]))
            rows = connection.execute(select(ITEMS.c.prediction_id, DECISIONS.c.seconds)
                                      .join(DECISIONS, DECISIONS.c.item_id == ITEMS.c.id)
                                      .where(ITEMS.c.prediction_id.in_(chunk))).all()
            timed = {r.prediction_id for r in rows if r.seconds is not None}
            seconds += sum(float(r.seconds) for r in rows if r.seconds is not None)
            reviewed += len(timed)
            untimed += len(chunk) - len(timed)
    minutes = ws.settings.retrain_minutes_per_record
    estimated = other + untimed
    return Effort(reviewed, seconds / 3600, estimated, estimated * minutes / 60)


@dataclass(frozen=True)
class Costs:
    """The cost factors of a retraining, and whether `--if-needed` proposes the challenger."""

    cycle: Cycle
    minutes_per_record: float
    auto_share_change: float  # challenger minus champion, on the held-out data
    hours_saved_per_cycle: float
    horizon_cycles: float
    effort: Effort
    overhead_hours: float
    break_risk: BreakRisk
    proposed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def expected_gain_hours(self) -> float:
        return self.hours_saved_per_cycle * self.horizon_cycles

    @property
    def cost_hours(self) -> float:
        return self.effort.hours + self.overhead_hours

    def as_dict(self) -> dict[str, Any]:
        return {"cycle": self.cycle.as_dict(), "minutes_per_record": self.minutes_per_record,
                "auto_share_change": self.auto_share_change, "hours_saved_per_cycle": self.hours_saved_per_cycle,
                "horizon_cycles": self.horizon_cycles, "expected_gain_hours": self.expected_gain_hours,
                "effort": self.effort.as_dict(), "overhead_hours": self.overhead_hours,
                "cost_hours": self.cost_hours, "break_risk": self.break_risk.as_dict(),
                "proposed": self.proposed, "reasons": self.reasons}


def decide(settings: Settings, cycle: Cycle, auto_share_change: float, effort: Effort, risk: BreakRisk,
           test: McNemar, accuracy_change: float) -> Costs:
    """The cost factors, and the decision: propose only when the clerical hours saved over the horizon beat
    the effort behind the data plus the overhead of a new version, no published share moves past its
    tolerance, and the challenger is not significantly worse."""
    minutes = settings.retrain_minutes_per_record
    saved = auto_share_change * cycle.volume * minutes / 60
    costs = Costs(cycle, minutes, auto_share_change, saved, settings.retrain_horizon_cycles, effort,
                  settings.retrain_overhead_hours, risk, False)
    gain, cost = costs.expected_gain_hours, costs.cost_hours
    reasons = []
    pays = gain > cost
    reasons.append(f"expected gain {gain:,.1f} clerical hours ({saved:,.1f} per cycle of {cycle.volume:,} records "
                   f"x {costs.horizon_cycles:g} cycles) {'beats' if pays else 'does not beat'} the costs of "
                   f"{cost:,.1f} hours (labelling {effort.hours:,.1f} + overhead {costs.overhead_hours:g})")
    steady = risk.beyond == 0
    if risk.records == 0:
        reasons.append(f"break risk not measured: {risk.note or 'no records of the last cycle'}")
    else:
        reasons.append(f"{risk.beyond} of {risk.aggregates:,} published shares would move by more than "
                       f"{risk.tolerance:.1%} (largest move {risk.largest_move:.2%})")
    worse = test.p_value < SIGNIFICANCE and test.champion_only > test.challenger_only
    if worse:
        reasons.append(f"the challenger is significantly worse than the champion (McNemar p = {test.p_value:.3g}, "
                       f"accuracy change {accuracy_change:+.1%})")
    proposed = pays and steady and not worse
    return replace(costs, proposed=proposed, reasons=reasons)
