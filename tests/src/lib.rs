//! Support for the end-to-end tests in `tests/tests/` (spawning emulators, temp state).
