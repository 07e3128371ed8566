"""ppm-tokens: a declarative GitOps reconciler for Posit Package Manager API tokens."""

__version__ = "0.1.0"
