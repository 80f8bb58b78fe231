"""Tasks (任务), their state machine and their append-only event trail."""
