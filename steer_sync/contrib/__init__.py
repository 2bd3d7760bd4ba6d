"""Optional integrations (layer L4): each module needs its extra; ``import steer_sync`` imports none."""
