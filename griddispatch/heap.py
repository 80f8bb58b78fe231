"""Keeping the garbage collector's full passes off the objects a process builds at start-up.

A started component has well over 100,000 objects that live until it exits:
modules, mappers, compiled statements, translation catalogs. CPython's
cyclic collector walks all of them in each full collection. A dispatcher
storing a backlog ran one about every 1,500 messages, and each stalled the
event loop for about 65 ms on a 2-core test machine. `gc.freeze` moves them
into a permanent generation that the collector skips.
"""

import gc
import logging

log = logging.getLogger(__name__)


def freeze_start_up_objects() -> int:
    """Collect once, then exempt every object still alive from later collections.

    Call it once the process has started its components. Returns how many
    objects were frozen.
    """
    unreachable = gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up objects frozen objects=%d collected=%d", frozen, unreachable)
    return frozen
