"""What the Fabric tasks do, end to end: each command ties the pipeline's stages together."""
