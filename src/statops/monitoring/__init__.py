"""Monitoring: signals over windows of the prediction log against each version's reference profile
(drift of inputs and answers, auto-coding rate, estimated and realised accuracy), stored alerts with an
optional webhook, true codes (feedback), and a self-contained HTML report. Reads the log through
`statops.scoring`, never through the HTTP package."""

from statops.monitoring.alerts import AlertChanges, AlertRecord, list_alerts
from statops.monitoring.feedback import SOURCES, FeedbackAdded, add_feedback, add_feedback_file
from statops.monitoring.monitor import MonitoringResult, WindowResult, monitor
from statops.monitoring.reference import ReferenceProfile, build_reference
from statops.monitoring.signals import Signal
from statops.monitoring.statistics import ALERT, NOT_ENOUGH, OK, STATUSES, WARN

__all__ = [
    "ALERT", "NOT_ENOUGH", "OK", "SOURCES", "STATUSES", "WARN", "AlertChanges", "AlertRecord", "FeedbackAdded",
    "MonitoringResult", "ReferenceProfile", "Signal", "WindowResult", "add_feedback", "add_feedback_file",
    "build_reference", "list_alerts", "monitor",
]
