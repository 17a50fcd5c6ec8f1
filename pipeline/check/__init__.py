"""Check stage: a sheet's cells against its template's schema (pandera, :mod:`~pipeline.check.schema`),
one file from bytes to judged rows (:mod:`~pipeline.check.file`) and the file status policy
(:mod:`~pipeline.check.status`)."""
