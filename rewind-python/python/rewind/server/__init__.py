"""The Rewind server: its configuration (`config`), its event stores
(`eventstores`) and its command line (`main`)."""
