"""The ``gjj`` subcommands that grew out of ``pipeline/cli.py`` (which stays the entry point and the
one place the commands are put together). Like it, they parse options, call the library and print;
nothing below this layer imports Typer or prints with Rich."""
