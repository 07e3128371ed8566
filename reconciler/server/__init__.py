"""Drivers for the PPM server and the live model they return."""
