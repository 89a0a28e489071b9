"""kit.benchmark._bench."""
