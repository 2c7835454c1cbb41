"""Scores written back to a database: an upsert by record id in one transaction."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


def upsert_scores(output: Path, out_format: str, url: str, table: str, id_column: str) -> None:
    """Insert or replace the scored rows of ``output`` in ``table``, keyed by ``id_column``.

    Rows go to a staging table first; the delete of old rows and the insert of new ones
    happen in one transaction.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    staging = f"{table}__staging"
    reader = (
        (b.to_pandas() for b in pq.ParquetFile(output).iter_batches(batch_size=50_000))
        if out_format == "parquet"
        else pd.read_csv(
            output, chunksize=50_000, keep_default_na=False, na_values=[""], dtype={id_column: str}
        )
        if out_format == "csv"
        else iter([pd.read_excel(output, dtype={id_column: str})])
    )
    try:
        with engine.begin() as conn:
            for i, part in enumerate(reader):
                part.to_sql(staging, conn, if_exists="replace" if i == 0 else "append", index=False)
            q = engine.dialect.identifier_preparer.quote
            if sa.inspect(conn).has_table(table):
                conn.execute(
                    sa.text(
                        f"DELETE FROM {q(table)} WHERE {q(id_column)} IN "
                        f"(SELECT {q(id_column)} FROM {q(staging)})"
                    )
                )
                conn.execute(sa.text(f"INSERT INTO {q(table)} SELECT * FROM {q(staging)}"))
                conn.execute(sa.text(f"DROP TABLE {q(staging)}"))
            else:
                conn.execute(sa.text(f"ALTER TABLE {q(staging)} RENAME TO {q(table)}"))
    finally:
        engine.dispose()
