"""Creating and destroying a stack's VM and container without the Pulumi CLI."""
