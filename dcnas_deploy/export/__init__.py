"""Export: trained model → ONNX / OpenVINO / TFLite at fp32, fp16 or int8, each file checked against PyTorch.

- `deployable`: `Deployable(subnet)`, the graph that is exported (LR depth in its units in, depth out)
- `formats`: the ONE format table (FORMATS) that drives export, the status table and file loading
- `converters`: per (format, precision) the step around `runtimes.backends` convert (fp16, int8 calibration)
- `samples`: real check images and disjoint calibration crops at the exported geometry
- `accuracy`: PSNR / max error vs PyTorch, task RMSE vs ground truth, and the gates
- `metadata`: what travels with a file (embedded + `<file>.json` sidecar)
- `status`: status rows and their table
- `pipeline`: `export_rows` / `export_checkpoint`, one try/except per row, JSON status
- `loaders`: exported files and checkpoints as upsamplers (`evaluate`, `upsample`)
- `bench_input`: a checkpoint as a `benchmark` input (pipeline.benchmark)

Nothing is imported here, so `import dcnas_deploy.export.<module>` stays as light as that module.
"""
