"""Real-socket tests that span layers (transport + stream + cancellation)."""
