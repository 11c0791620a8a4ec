"""The dataset build: ``facts/`` (the curated fact base) to ``src/oreflow/data/tables/``.

One module per table family (reference, materials, production, minerals, estimates, flows,
composition, magnets, demand, prices, policy, projects, model, trade), shared helpers in
:mod:`common`, the post-build checks in :mod:`checks` and the orchestration and command line in
:mod:`build`. Run it as ``python -m tools.dataset`` from the repository root.
"""
