"""The SCIM 2.0 service provider for the staff identity portal (docs/scim.md)."""
