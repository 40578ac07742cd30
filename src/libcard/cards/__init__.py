"""Cards: numbers, kinds, lifecycle (lost, stolen, replaced), the PIN and its lockout."""
