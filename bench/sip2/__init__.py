"""The SIP2 server's throughput and latency: libcard answering patron status (23) against
PostgreSQL with 100 000 patrons, beside a baseline that answers without a database.

    .venv/bin/python -m bench.sip2
    .venv/bin/python -m bench.sip2 --quick

It prints figures and asserts nothing about time. See bench/README.md.
"""
