"""The batcher: what arrives while a batch is handled becomes the next batch."""

import asyncio

import pytest

from dispatcher.batching import Batcher


class Recorder:
    """A batch handler that records each batch and can hold the first one back."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail_first = fail_first

    async def handle(self, batch: list[int]) -> None:
        self.batches.append(batch)
        if len(self.batches) == 1:
            await self.release.wait()
            if self.fail_first:
                raise RuntimeError("database went away")


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiting_items_form_one_batch() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.handle, max_batch=3, name="test")
    batcher.start()

    await batcher.put(0)
    await _settle()
    for item in (1, 2, 3):
        await batcher.put(item)
    recorder.release.set()
    await batcher.put(4)
    await batcher.stop()

    assert recorder.batches[0] == [0]
    assert recorder.batches[1] == [1, 2, 3]
    assert recorder.batches[2] == [4]


async def test_full_queue_makes_put_wait() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.handle, max_batch=2, name="test")
    batcher.start()
    await batcher.put(0)
    await _settle()
    await batcher.put(1)
    await batcher.put(2)

    blocked = asyncio.create_task(batcher.put(3))
    await _settle()
    assert not blocked.done()

    recorder.release.set()
    await blocked
    await batcher.stop()
    assert [item for batch in recorder.batches for item in batch] == [0, 1, 2, 3]


async def test_failed_batch_does_not_stop_batcher(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(fail_first=True)
    batcher = Batcher(recorder.handle, max_batch=5, name="test")
    batcher.start()

    await batcher.put(0)
    await _settle()
    recorder.release.set()
    await batcher.put(1)
    await batcher.stop()

    assert recorder.batches == [[0], [1]]
    assert "batch failed name=test size=1" in caplog.text


def test_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch size 0 must be 1 or more"):
        Batcher(Recorder().handle, max_batch=0, name="test")
