"""Scale out: the registered model scores a Spark DataFrame through ``mlflow.pyfunc.spark_udf``."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from crm_predict.tracking import tracking_to
from tests.integration.servers import HOST, skip_or_fail

pytestmark = [
    pytest.mark.integration,
    # pyspark's own notes on pandas 3, not ours.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:Series.values returning an ndarray"),
]

N_ROWS = 200
# The UDF's output: a struct of the score columns we want back in Spark.
RESULT_TYPE = (
    "lead_id string, p_convert double, grade string, reason_for_1 string, "
    "reason_for_1_contribution double, reason_against_1 string"
)


@pytest.fixture(scope="module")
def spark() -> Iterator:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        skip_or_fail("pyspark is not installed: pip install -e '.[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        skip_or_fail("Spark needs a Java runtime: apt-get install openjdk-17-jre-headless")
    # Python workers must import crm_predict: run them on this interpreter (the venv's),
    # not on the first python3 on PATH.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)
        env.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("crm_predict-test")
            .config("spark.driver.host", HOST)
            .config("spark.driver.bindAddress", HOST)
            .config("spark.driver.memory", "1g")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
        try:
            yield session
        finally:
            session.stop()


def test_spark_udf_scores_like_the_bundle(spark, leads_model, logged_leads_model):
    import mlflow
    from pyspark.sql import functions as F

    uris = logged_leads_model
    rows = leads_model.test_frame().head(N_ROWS).reset_index(drop=True)
    frame = spark.createDataFrame(rows)
    with tracking_to(uris["tracking_uri"]):
        score = mlflow.pyfunc.spark_udf(
            spark, uris["registered_model_uri"], result_type=RESULT_TYPE, env_manager="local"
        )
    scored = (
        frame.withColumn("score", score(F.struct(*rows.columns)))
        .select(F.col("lead_id").alias("input_id"), "score.*")
        .toPandas()
    )

    expected = leads_model.models["gbm"].bundle.score_rows(rows).set_index("lead_id")
    got = scored.set_index("lead_id").loc[expected.index]
    assert len(scored) == N_ROWS
    assert frame.rdd.getNumPartitions() == 2  # two Python workers, like executors
    assert (scored["input_id"] == scored["lead_id"]).all()
    np.testing.assert_allclose(got["p_convert"], expected["p_convert"], rtol=1e-9)
    for column in ("grade", "reason_for_1", "reason_against_1"):
        assert got[column].tolist() == expected[column].tolist(), column
    pd.testing.assert_series_equal(
        got["reason_for_1_contribution"],
        expected["reason_for_1_contribution"],
        check_exact=False,
        rtol=1e-9,
    )
