"""Cross-cutting pieces shared by every griddispatch component.

Settings, logging, the exception root, NATS subject names and message
schemas, the clock and the translation catalogs live here, so that
`storage`, `dispatcher`, `workers` and `bots` agree on them.
"""
