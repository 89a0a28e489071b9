"""kit.submission._format."""
