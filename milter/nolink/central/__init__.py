"""The central record: several relays' journals, hold queues and reports on one PostgreSQL database.

db (connections from [central]), schema (versioned migrations, monthly partitions, retention),
shipper (local SQLite journal -> PostgreSQL, in nolink serve), requests (release and delete across
relays), queries (lookup, report and quarantine list over every relay). Nothing here runs unless
[central] is configured; mail never waits for PostgreSQL.
"""
