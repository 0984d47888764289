//! Python bindings for the Rewind event store (built with maturin).
