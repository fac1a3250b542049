"""Concurrent requests for one model version share one vectorised model call.

Predicting 32 records at once costs about as much as predicting two one at a time, so while the
model is busy the requests that arrive queue up and go together into the next call (continuous
batching, as Triton or TF Serving do). A request alone is predicted at once (or after
`wait_seconds`, if set). Small calls run on the event loop itself: with the GIL a model thread
would not run in parallel anyway, and handing over to one costs latency (measured). Requests of
`max_records` or more go to a worker thread so that the loop keeps answering. Values are identical
to a request predicted alone: the model treats every record independently.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from statops.scoring.predict import Columns, predict_columns
from statops.tasks import TaskModel


@dataclass
class _Lane:
    waiting: list[tuple[list[str], asyncio.Future[Columns]]] = field(default_factory=list)
    running: bool = False


class Batcher:
    """Per model version, a queue of waiting requests drained by one task at a time."""

    def __init__(self, max_records: int = 256, wait_seconds: float = 0.0):
        self.max_records = max_records
        self.wait_seconds = wait_seconds
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self.calls: dict[tuple[str, str], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def predict(self, key: tuple[str, str], model: TaskModel, texts: list[str]) -> Columns:
        if len(texts) >= self.max_records:  # large requests are batches already
            return await asyncio.to_thread(predict_columns, model, texts)
        lane = self._lanes.setdefault(key, _Lane())
        future: asyncio.Future[Columns] = asyncio.get_running_loop().create_future()
        lane.waiting.append((texts, future))
        if not lane.running:
            lane.running = True
            task = asyncio.create_task(self._drain(key, lane, model))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, key: tuple[str, str], lane: _Lane, model: TaskModel) -> None:
        try:
            while lane.waiting:
                # Let every request that has arrived meanwhile join this call.
                await asyncio.sleep(self.wait_seconds if len(lane.waiting) == 1 else 0)
                batch: list[tuple[list[str], asyncio.Future[Columns]]] = []
                size = 0
                while lane.waiting and (not batch or size + len(lane.waiting[0][0]) <= self.max_records):
                    item = lane.waiting.pop(0)
                    batch.append(item)
                    size += len(item[0])
                texts = [text for item_texts, _ in batch for text in item_texts]
                self.calls[key] = self.calls.get(key, 0) + 1
                try:
                    columns = predict_columns(model, texts)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for item_texts, future in batch:
                    end = start + len(item_texts)
                    if not future.done():
                        future.set_result({name: values[start:end] for name, values in columns.items()})
                    start = end
        finally:
            lane.running = False
