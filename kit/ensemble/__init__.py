"""kit.ensemble._members."""
