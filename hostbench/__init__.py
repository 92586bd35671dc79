"""hostbench: how much performance a KVM VM and a Docker container lose against bare metal."""
