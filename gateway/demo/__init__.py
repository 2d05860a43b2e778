"""The reference demo world: departments, their tables, and the seed scenarios."""
