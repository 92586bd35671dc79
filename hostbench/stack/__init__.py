"""A stack: its validated config, its environments, its SSH key, and the targets it produced."""
