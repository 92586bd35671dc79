"""Running workloads: the catalogue, parsers, schedule, facts and parity, and the trial runner."""
