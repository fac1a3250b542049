"""The clerical review queue: predictions decided `review` (and an audit sample of `auto` ones) are
queued from the prediction log, handed to coders one locked item at a time, and their codes become
true codes for monitoring and labelled data for retraining (docs/review.md)."""

from statops.review.agreement import LevelAgreement, agreement_by_level, cohen_kappa
from statops.review.decisions import SKIP, UNCODABLE, Decided, decide_item
from statops.review.queue import QueueItem, next_item, queue_counts, release_item, sync_queue
from statops.review.sampling import coded_twice, in_audit_sample
from statops.review.stats import ReviewExport, ReviewStats, coded_items, export_review, review_stats

__all__ = [
    "SKIP", "UNCODABLE", "Decided", "LevelAgreement", "QueueItem", "ReviewExport", "ReviewStats",
    "agreement_by_level", "coded_items", "coded_twice", "cohen_kappa", "decide_item", "export_review",
    "in_audit_sample", "next_item", "queue_counts", "release_item", "review_stats", "sync_queue",
]
