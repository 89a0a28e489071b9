"""kit.data._load."""
