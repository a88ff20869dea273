"""sitecheck: spatial compliance checks and parcel search against a city's control layers."""

__version__ = "0.1.0"
