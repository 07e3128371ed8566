"""Lock kinds that need nothing beyond the standard library: `local` and `file`."""
