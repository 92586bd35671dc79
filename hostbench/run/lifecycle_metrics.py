"""What a lifecycle run measures: its workloads, steps and metrics, their units and order;
shared by the run that measures them and the analysis and reports that read them."""

READY = "time-to-ready"
FOOTPRINT = "idle-footprint"
SETUP = "stack-setup"
DENSITY = "density"
DENSITY_STEP = "density-step"
READY_STEPS = ("create_s", "start_s", "address_s", "sshd_s", "login_s")
"""The steps from the create call to the first command, in order; ``ready_s`` is their sum."""
SETUP_STEPS = ("network_s", "pool_s", "image_import_s")
FOOTPRINT_METRICS = ("memory_mib", "pss_mib", "rss_mib", "idle_cpu_pct", "disk_mib")
METRIC_ORDER = (*SETUP_STEPS, *READY_STEPS, "ready_s", "remove_s", *FOOTPRINT_METRICS)
"""How reports list a lifecycle run's metrics."""
STEP_TEXT = {"create_s": "create (volumes / container)", "start_s": "start (to running)",
             "address_s": "network address", "sshd_s": "boot to sshd answering",
             "login_s": "login and first command", "ready_s": "total to ready",
             "remove_s": "remove completely"}
UNITS = {"memory_mib": "MiB", "pss_mib": "MiB", "rss_mib": "MiB", "disk_mib": "MiB",
         "idle_cpu_pct": "% of a core", "instances": "instances", "answering": "instances",
         "host_memory_mib": "MiB", "marginal_mib": "MiB/instance",
         "attributed_mib": "MiB/instance"}
HIGHER_IS_BETTER = {"answering", "instances"}
"""Every other lifecycle metric is a time or a cost: lower is better."""
