"""The three rates the command centre is judged by, and per-inspector figures."""
