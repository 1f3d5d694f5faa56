"""Where collected files go and how they are named: filesystem, manifest, compress."""
