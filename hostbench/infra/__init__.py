"""The Pulumi program: a matched libvirt VM and Docker container for one stack."""
