"""kit.crossval._run."""
