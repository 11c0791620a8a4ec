"""Pictures and reports built from oreflow's results (never re-running a model).

* :mod:`oreflow.report.figures` — Plotly figures and their registry ``FIGURES``;
* :mod:`oreflow.report.export` — ``write_figure`` (offline HTML, PNG/SVG/PDF via kaleido);
* :mod:`oreflow.report.notebook` — the HTML of results in notebooks (``_repr_html_``);
* :mod:`oreflow.report.html` and :mod:`oreflow.report.pdf` — the scenario report.

Nothing is imported here; import the submodule you need. The headline table of a stress run
is :mod:`oreflow.headline` (a leaf module: the CLI, the report, the API and notebooks use it).
"""
