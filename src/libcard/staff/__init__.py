"""Staff users of the lending desk: roles, password plus second factor, their sessions."""
