"""The main job (`demo`): every stage of the pipeline, resumable, and its report."""
