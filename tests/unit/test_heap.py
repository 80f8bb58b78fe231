"""Freezing the objects a process built at start-up."""

import gc

from griddispatch.heap import freeze_start_up_objects


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_freeze_exempts_live_objects_and_collects_garbage_first() -> None:
    gc.unfreeze()
    alive = _Cycle()
    _Cycle()  # garbage in a cycle: only the collector frees it
    try:
        frozen = freeze_start_up_objects()

        assert frozen == gc.get_freeze_count()
        assert frozen > 0
        # Frozen objects leave the generations the collector walks.
        assert not any(isinstance(item, _Cycle) for item in gc.get_objects())
    finally:
        gc.unfreeze()
    # Back in them, only the live one is left: the garbage was collected before the freeze.
    assert [item for item in gc.get_objects() if isinstance(item, _Cycle)] == [alive]
