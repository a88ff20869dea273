"""Loading layer source files into the stores: read, validate, transform, publish versions."""
