"""Orchestration side of the lakehouse: config models, task specs and the operator factory.

Never imports pyspark or delta: DAG parsing stays fast and runs without a JVM.
"""
