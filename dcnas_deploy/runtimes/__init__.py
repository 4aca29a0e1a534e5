"""Runtimes: backends (convert, load, run, time), device profiles and device connections.

- `table`: the one table of runtimes (RUNTIMES: import name, pip extra, suffixes loaded and written, devices,
  session, whether the agent serves it); everything below derives from it
- `protocol`: the one measurement protocol (Protocol, Timing, measure)
- `files`: load a model file in a runtime, run and time it (torch-free, Python 3.8: the agent uses it)
- `backends`: convert an nn.Module to a file per runtime (BACKENDS, get_backend) and time_module
- `devices`: device profiles from devices/*.yaml (DeviceProfile, load_device, list_devices)
- `connections`: how a profile is measured (Connection, CONNECTIONS, connect; local here,
  agent in agent_client, adb in adb with its output parsers in adb_output)
- `host`: host provenance (host_info) for LUT headers and reports

Nothing is imported here, so `import dcnas_deploy.runtimes.sessions` stays torch-free.
"""
