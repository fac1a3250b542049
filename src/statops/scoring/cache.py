"""The bounded model cache: each version loaded once, aliases followed, memory bounded. Batch
scoring and the online API both load through it.

Two maps. *Routes* take what a request names (a model, and maybe a version or an alias) to a
resolved version; a background thread re-resolves every route every `refresh_seconds`, so a moved
`production` alias is followed without a restart. *Models* hold loaded versions, least recently
used dropped first. A new version is loaded completely before any route points at it, and routes
are swapped by one assignment, so no request ever sees a half-loaded model.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from statops.errors import Conflict, StatopsError
from statops.registry.lifecycle import check_in_service, retired_reason
from statops.registry.versions import ModelVersionRef, parse_model_ref, resolve_model
from statops.tasks import TaskModel
from statops.workspace import Workspace

log = logging.getLogger("statops.scoring.cache")

RouteKey = tuple[str, str | None, str | None]  # (model, version, alias) as the request names them


@dataclass(frozen=True)
class LoadedModel:
    """A loaded, ready version."""

    ref: ModelVersionRef
    model: TaskModel
    loaded_at: float


class Served(NamedTuple):
    """What a request gets: the version as its route resolved it (with the alias that chose it)
    and the loaded model, which routes to the same version share."""

    ref: ModelVersionRef
    model: TaskModel


def route_ref(key: RouteKey) -> str:
    name, version, alias = key
    return f"{name}/{version}" if version else f"{name}@{alias}" if alias else name


def _load_registered(ws: Workspace, ref: ModelVersionRef) -> TaskModel:
    """The registry's loader, imported when the first model loads (it brings MLflow)."""
    from statops.registry.loading import load_model as load

    return load(ws, ref)


def route_key(model_ref: str) -> RouteKey:
    """'MODEL', 'MODEL@ALIAS' or 'MODEL/VERSION' as a route."""
    name, version, alias = parse_model_ref(model_ref)
    return name, version, alias


class ModelCache:
    """Thread-safe. `peek` is the lock-light fast path; `get` resolves and loads when needed."""

    def __init__(self, ws: Workspace, capacity: int = 4, refresh_seconds: float = 5.0,
                 loader: Callable[[Workspace, ModelVersionRef], TaskModel] = _load_registered,
                 freeze_loaded: bool = True):
        self.ws = ws
        self.capacity = capacity
        self.refresh_seconds = refresh_seconds
        self._loader = loader
        self.freeze_loaded = freeze_loaded  # a server's choice; a one-off job leaves the heap alone
        self._routes: dict[RouteKey, ModelVersionRef] = {}
        self._models: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._failures: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()  # guards _models' order and contents
        self._load_locks: dict[tuple[str, str], threading.Lock] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loads = 0
        self.load_failures = 0
        self.evictions = 0
        self.refresh_errors = 0

    # -- the request path --------------------------------------------------------------------
    def peek(self, key: RouteKey) -> Served | None:
        """The loaded model for a known route, or None (then call `get`)."""
        ref = self._routes.get(key)
        if ref is None or retired_reason(ref.tags) is not None:
            return None
        with self._lock:
            loaded = self._models.get((ref.name, ref.version))
            if loaded is not None:
                self._models.move_to_end((ref.name, ref.version))
        return None if loaded is None else Served(ref, loaded.model)

    def resolve(self, key: RouteKey) -> ModelVersionRef:
        """The version a route names, checked to be in service, without loading it."""
        ref = self._routes.get(key) or resolve_model(self.ws, route_ref(key))
        self._check_servable(ref)
        return ref

    def get(self, key: RouteKey) -> Served:
        """Resolve the route (once; then the refresher keeps it current) and load its version."""
        ref = self._routes.get(key)
        if ref is None:
            ref = self.resolve(key)
            loaded = self._load(ref)
            self._routes[key] = ref
            return Served(ref, loaded.model)
        self._check_servable(ref)
        return Served(ref, self._load(ref).model)

    @staticmethod
    def _check_servable(ref: ModelVersionRef) -> None:
        check_in_service(ref.name, ref.version, ref.tags)

    def _load(self, ref: ModelVersionRef) -> LoadedModel:
        key = (ref.name, ref.version)
        with self._lock:
            loaded = self._models.get(key)
            if loaded is not None:
                self._models.move_to_end(key)
                return loaded
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:  # one load per version, however many requests wait for it
            with self._lock:
                loaded = self._models.get(key)
            if loaded is not None:
                return loaded
            failure = self._failures.get(key)
            if failure and time.monotonic() - failure[0] < self.refresh_seconds:
                raise Conflict(failure[1])  # do not hammer the registry with a broken version
            try:
                model = self._loader(self.ws, ref)
            except StatopsError as exc:
                self._remember_failure(key, f"model {ref.name} version {ref.version} cannot be served: {exc}")
                raise Conflict(self._failures[key][1]) from exc
            except Exception as exc:
                self._remember_failure(key, f"model {ref.name} version {ref.version} cannot be loaded: "
                                       f"{type(exc).__name__}: {exc}")
                log.error("%s", self._failures[key][1])
                raise Conflict(self._failures[key][1]) from exc
            loaded = LoadedModel(ref, model, time.time())
            # A model is hundreds of thousands of long-lived objects; a full garbage collection
            # walking them all takes ~100-200 ms, a pause every request in flight would feel.
            # Frozen objects are skipped by the collector; reference counting still frees an
            # evicted model (only reference cycles inside it would stay).
            if self.freeze_loaded:
                gc.freeze()
            with self._lock:
                self._failures.pop(key, None)
                self._models[key] = loaded
                self.loads += 1
                while len(self._models) > self.capacity:
                    old, _ = self._models.popitem(last=False)
                    self.evictions += 1
                    log.info("model cache: dropped %s/%s (least recently used)", *old)
            return loaded

    def _remember_failure(self, key: tuple[str, str], message: str) -> None:
        self.load_failures += 1
        self._failures[key] = (time.monotonic(), message)

    # -- following the registry --------------------------------------------------------------
    def refresh(self) -> None:
        """Re-resolve every route; load a newly named version before switching the route to it."""
        for key, current in list(self._routes.items()):
            try:
                ref = resolve_model(self.ws, route_ref(key))
            except StatopsError as exc:  # the model, version or alias is gone: requests will say so
                log.warning("route %s no longer resolves: %s", route_ref(key), exc)
                self._routes.pop(key, None)
                continue
            except Exception:
                self.refresh_errors += 1
                log.exception("refreshing route %s failed; keeping version %s", route_ref(key), current.version)
                continue
            if ref == current:
                continue
            if ref.version != current.version and retired_reason(ref.tags) is None:
                try:
                    self._load(ref)
                except StatopsError as exc:
                    log.error("route %s: version %s cannot be loaded, keeping version %s: %s",
                              route_ref(key), ref.version, current.version, exc)
                    continue
                log.info("route %s now serves version %s (was %s)", route_ref(key), ref.version,
                         current.version)
            self._routes[key] = ref

    def start(self) -> ModelCache:
        """Start the background refresher."""
        self._thread = threading.Thread(target=self._refresh_loop, name="statops-model-refresh", daemon=True)
        self._thread.start()
        return self

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:
                self.refresh_errors += 1
                log.exception("model cache refresh failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- what /metrics and /readyz show ------------------------------------------------------
    def loaded_versions(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._models)

    def routes(self) -> dict[str, Any]:
        return {route_ref(k): v.version for k, v in self._routes.items()}
