"""Items and loans: the lendable copies, checkout, checkin and renewal."""
