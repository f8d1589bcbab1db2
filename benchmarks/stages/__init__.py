"""The suite's stages: one function per stage, each taking the run's shared `Bench` and
returning its figures as a dict. Modules by area: `build` (generation, pipeline, quality),
`scoring` (batch scoring, full-cohort and single explanations), `serving` (HTTP, chat),
`equity` (equity queries, planner)."""
