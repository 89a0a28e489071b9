"""kit.tuning._search."""
