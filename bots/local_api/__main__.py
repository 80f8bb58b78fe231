"""Run the local Telegram Bot API server: python -m bots.local_api --port 8081."""

from bots.local_api.server import main

main()
