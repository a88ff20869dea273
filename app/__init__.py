"""HTTP interface and command line of sitecheck."""
