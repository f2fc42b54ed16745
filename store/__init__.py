"""The case store: readers, ingest, correlation, detection and the reads over it."""

DEFAULT_DB = "proctrail.db"  # the case store in the working folder when none is named
