"""handoff: the human side (counselor queue, sessions, relay, console). Built in its own issue;
the conversation already has the entry point and the crisis flag it will consume."""
