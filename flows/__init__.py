"""flows: the conversation, pure. State + event (+ clock) in, new state + replies + effects out.

No network, no Redis, no LINE SDK: `bot/` translates LINE events into `Event` and performs the
effects. This is what lets the worker, `mado chat`, the demo and the tests share it unchanged.
"""
from .model import Event, Outcome, Reply
from .machine import handle


def warm_up() -> None:
    """Build everything a first message would build (the machine, the analyser and its
    dictionary, intents, places, crisis patterns, the learned second opinion): a worker does this before it takes any work,
    so its first event is as quick as the others (and no lease runs out while it loads)."""
    from . import classifier, crisis, places
    from .language import analyse
    from .understanding import lexicon

    handle(None, Event("text", text="warm up"), 0.0)
    lexicon()
    crisis.tiers()
    classifier.model()
    places.find(analyse("warm up"))


__all__ = ["Event", "Outcome", "Reply", "handle", "warm_up"]
