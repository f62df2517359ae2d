"""flows: the conversation, pure. State + event (+ clock) in, new state + replies + effects out.

No network, no Redis, no LINE SDK: `bot/` translates LINE events into `Event` and performs the
effects. This is what lets the worker, `mado chat`, the demo and the tests share it unchanged.
"""
from .model import Event, Outcome, Reply
from .machine import handle

__all__ = ["Event", "Outcome", "Reply", "handle"]
