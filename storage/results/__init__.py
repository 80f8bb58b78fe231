"""Inspection results: checklist answers, opinion, photos, location and the receipt code."""
