"""YAML -> validated, typed desired state."""
