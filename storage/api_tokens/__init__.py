"""API tokens of the command centre's HTTP API and of monitoring hooks."""
