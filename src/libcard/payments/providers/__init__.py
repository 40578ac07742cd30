"""Payment providers behind one interface (base.py), each speaking its documented HTTP API."""
