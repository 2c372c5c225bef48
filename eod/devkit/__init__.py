"""The dev kit: everything that stands in for the world around the close.

Nothing here is part of a real close. It holds the synthetic exchange generator
(`generate`), the simulators of the external systems (`simulators`: matching engine,
BitGo custody, the StakingPool chain, the PagerDuty-compatible pager), the benchmarks
(`bench`) and the end-to-end demo (`demo`). The product's migrations create nothing
for it: its own schema (`schema.sql`, schema `sim`) is applied by the generator
before it loads and by the simulators before they serve (`schema.ensure_schema`).
"""
