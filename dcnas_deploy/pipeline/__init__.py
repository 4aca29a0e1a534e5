"""Jobs that combine the layers below: `benchmark` of any input (model file, checkpoint, ARCH.yaml) on a device,
and `demo`, every stage of the pipeline, resumable, with its report."""
