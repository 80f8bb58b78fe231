"""Background workers: the escalation sweep and the outbox relay."""
