"""kit.recipes._load."""
