"""The Pulumi program that provisions MediaVault on Kubernetes (see Pulumi.yaml)."""
