"""HTTP routes of the payments service: thin, they check who is calling and call the rules."""
