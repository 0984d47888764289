//! C ABI for the Rewind event store. See `include/rewind.h`.
