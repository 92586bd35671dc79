"""Provisioning: one resource plan, declared by the Pulumi program or created directly."""
