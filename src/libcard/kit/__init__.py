"""Domain-free helpers: money, clock, secrets, i18n."""
