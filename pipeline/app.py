"""Wiring: one installation's home, configuration and database, opened in one call.

The CLI and the tests go through :func:`open_app`; everything below it takes explicit arguments.
Opening is light (no pandas, pandera or WeasyPrint): the processor and the staff summary are
imported by the methods that make them, so ``gjj review list`` starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import CentreConfig, Home, load_config
from pipeline.store.dbapi import database_url
from pipeline.store.engine import make_engine, migrate, session_factory

if TYPE_CHECKING:
    from pipeline.run.outcomes import RunSummary
    from pipeline.run.processor import Processor


@dataclass
class App:
    home: Home
    config: CentreConfig
    engine: Engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def processor(self, business_date: date | None = None, run_id: str | None = None) -> Processor:
        from pipeline.run.processor import Processor  # pandas, pandera, the outputs: only for the commands that process

        return Processor(self.home, self.config, self.engine, business_date, run_id)

    def run(self, business_date: date | None = None) -> RunSummary:
        processor = self.processor(business_date)
        try:
            return processor.run()
        finally:
            processor.close()

    def write_summary(self, business_date: date) -> Path:
        """Rebuild the business day's staff summary from the database alone; returns the page."""
        from pipeline.run.day import write_day_summary

        return write_day_summary(self.sessions, self.home, business_date, centre_name=self.config.centre_name)

    def close(self) -> None:
        self.engine.dispose()


def open_app(home: Path, config_path: Path | None = None, db_url: str | None = None, **overrides: object) -> App:
    """Create the home folders if needed, migrate the database, read the configuration."""
    layout = Home(home.resolve())
    layout.create()
    config = load_config(config_path, home=layout.root, **overrides)
    engine = make_engine(db_url or database_url(layout.root))
    migrate(engine)
    return App(layout, config, engine)
