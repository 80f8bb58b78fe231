"""Daily digests for grid leaders and county staff."""
