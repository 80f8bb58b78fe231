"""Command-centre console accounts and their server-side sessions."""
