//! Insider upsert API emulator (arrives with the Insider issue).
