//! Locating key paths in suite source text (stub).
