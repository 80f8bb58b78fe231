"""State the HTTP hooks keep between requests: the replay cache of signatures."""
