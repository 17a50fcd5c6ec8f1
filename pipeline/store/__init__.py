"""The database: tables, migrations, queries and effects."""

from pipeline.store import console_tables as console_tables  # registers the console's tables with the metadata
