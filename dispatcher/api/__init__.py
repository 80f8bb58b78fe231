"""The command centre's HTTP API: directives, tasks, the registry, statistics and operations.

`create_app` builds the aiohttp application and `ApiService` runs it like the
other components. docs/api.md describes the endpoints for users.
"""
