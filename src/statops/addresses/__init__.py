"""Task "addresses": match free-text addresses to a reference base (parse, search, re-rank, calibrate)."""
