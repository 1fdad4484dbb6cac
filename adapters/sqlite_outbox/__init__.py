"""The outbox on embedded SQLite: accepted events survive a crash until a relay delivers them."""
