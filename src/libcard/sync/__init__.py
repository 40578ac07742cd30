"""Feeds from the systems that own personal data: the student registry."""
