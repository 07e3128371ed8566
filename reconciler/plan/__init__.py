"""The pure planner, the plan model and its renderers."""
