"""One package per protocol probe; the registry lists them explicitly."""
