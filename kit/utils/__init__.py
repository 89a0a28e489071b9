"""kit.utils."""
