"""The `corners` command line (SPEC §8): one module per command group, the shared options
declared once (`pipelines.cli.options`), and `main`, which prints corners' own errors as one
line and any other as where to find its traceback.

Commands are loaded when invoked, so `corners --help`, `corners alerts` or `corners explain`
never import Dagster or Great Expectations.
"""
