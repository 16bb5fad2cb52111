"""The registry: its configuration, deployment, image transfer and proof."""
