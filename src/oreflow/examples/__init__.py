"""Built-in example inputs (package data): ``bom/*.yaml`` bills of materials.

Read them with :meth:`oreflow.exposure.Bom.example`; list them with
:func:`oreflow.exposure.list_examples`.
"""
