"""kit.engine."""
