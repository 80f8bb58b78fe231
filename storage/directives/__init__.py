"""Directives (监管指令) from the command centre."""
