"""The outbox in a PostgreSQL database that any number of eventgate instances share."""
