"""Virtual-time units for tests, in the scheduler's integer nanoseconds."""

US = 1_000
MS = 1_000_000
S = 1_000_000_000
