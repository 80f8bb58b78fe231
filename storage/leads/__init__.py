"""Risk leads (问题线索) injected by monitoring hooks."""
