//! loom models of shmlane live in `tests/`; run them with `--cfg loom` (see README.md).
