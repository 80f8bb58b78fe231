"""Scenario harness: the whole loop on real components, a hand-moved clock, chat expectations."""
