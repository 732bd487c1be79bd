"""Built-in suites, generated deterministically from a seed (no downloaded data)."""
