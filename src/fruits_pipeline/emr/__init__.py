"""Run the packaged pipeline on AWS EMR: the `fruits-emr` command (see cli.py)."""
