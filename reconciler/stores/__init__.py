"""Secret stores behind one Protocol (`base.SecretStore`) and a registry by `type`."""
