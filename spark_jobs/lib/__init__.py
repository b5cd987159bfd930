"""Library for the Spark jobs: session, table resolution, readers/writers, pure transforms."""
