"""What the Pulumi programs under stacks/ share beyond the platform facts: reading a
stack's configuration as its Pulumi.yaml declares it (`pulumi_config`)."""
