"""The database: tables, migrations, queries and effects."""
