"""kit.competitions._spec."""
