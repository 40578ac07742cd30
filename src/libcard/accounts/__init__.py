"""Use cases that span domains: registering a patron with their e-card, replacing a card with
its fee, and the card-status decision every other system asks for."""
