"""The program's cadence in reports: daily, weekly, monthly and fortnightly reviews.

``periods`` and ``formulas`` are pure; ``gather`` is the SQL; ``review`` puts a
report together; ``render`` turns one into a printable HTML page. docs/reports.md
writes down every formula these modules run.
"""
