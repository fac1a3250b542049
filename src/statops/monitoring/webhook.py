"""Alert changes posted to a webhook as JSON, in a thread of their own: retried with doubling pauses,
each call under a timeout, so a hanging or failing receiver never holds up the caller beyond a bound."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger("statops.monitoring.webhook")
FIRST_PAUSE = 0.5


def deliver(url: str, payload: dict[str, Any], timeout: float, retries: int) -> bool:
    """POST `payload` to `url`; True once a call answers 2xx. Tried 1 + `retries` times."""
    body = json.dumps(payload, default=str).encode("utf-8")
    pause = FIRST_PAUSE
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "statops-monitoring"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the URL is a setting)
                if 200 <= response.status < 300:
                    return True
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        log.warning("monitoring webhook %s failed (try %d of %d): %s", url, attempt + 1, retries + 1, problem)
        if attempt < retries:
            time.sleep(pause)
            pause *= 2
    log.error("monitoring webhook %s: gave up after %d tries", url, retries + 1)
    return False


def longest_wait(timeout: float, retries: int) -> float:
    """The most a delivery can take: every call timing out, and every pause."""
    return (retries + 1) * timeout + sum(FIRST_PAUSE * 2**i for i in range(retries))


def post_in_background(url: str, payload: dict[str, Any], timeout: float, retries: int) -> threading.Thread:
    """Start delivering `payload` in a daemon thread and return it (join it with a bound, or not at all)."""
    thread = threading.Thread(target=deliver, args=(url, payload, timeout, retries),
                              name="statops-monitoring-webhook", daemon=True)
    thread.start()
    return thread
