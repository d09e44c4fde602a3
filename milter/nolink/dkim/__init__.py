"""DKIM: verification with dkimpy under stricter rules, its own DNS, and speed-ups."""
