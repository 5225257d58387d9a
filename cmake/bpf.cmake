# eBPF backend: filled in by the bpf issue.
set(PROCTRAIL_WITH_BPF OFF)
