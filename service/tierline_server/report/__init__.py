"""The fairness report: how one policy treats a whole population, as figures and one HTML page.

mix         the interactions every customer is decided in, and the cohorts to compare
treatment   what a policy did to a population (the figures' only input)
population  a population file -> a Treatment, deciding each distinct input once
figures     pure functions: Treatment -> figures, each with a one-line reading
charts      figures -> plotly charts
page        charts and figures -> one self-contained HTML page
"""
