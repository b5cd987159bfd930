"""Where data comes from and goes to: Delta tables by name (``lakehouse_contract.naming``), JDBC
sources, the watermark registry, step results, the audit log, secrets by reference."""
