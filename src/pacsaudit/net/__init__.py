"""The dialer under every probe and the engine: connections with deadlines, TLS facts, and
the politeness limits (rate, per-network caps). Knows nothing of protocols or of the scan."""
