"""spark-submit entry point of the packaged project (EMR step and local spark-submit).

    spark-submit [spark options] entrypoint.py --env emr \
        --conf-source conf-fruits_pipeline.tar.gz [--params key=value,...]

The arguments after the script are `kedro run` options. The package's `main` finds the
run command; the SparkSession hook reuses the session spark-submit configured.
"""

from fruits_pipeline.__main__ import main

if __name__ == "__main__":
    main()
